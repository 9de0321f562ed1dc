/*
 * cbase.h - what cbase.c and cbase_2proc.c share: the helpers that make and
 * close the measured segments and mappings, and the two-process
 * measurements cbase.c's table lists.
 */
#ifndef IPCARC_CBASE_H
#define IPCARC_CBASE_H

#include "cshm.h"

#include <stddef.h>
#include <stdint.h>

int64_t now_ns(void);
void die(const char *what, int rc); /* prints and exits 1 */
/* A segment like the Go benchmarks' holding size bytes; name (namelen
 * bytes) receives its name unless NULL. */
ipcarc_seg *new_seg(size_t size, char *name, size_t namelen);
void close_seg(ipcarc_seg *s);
/* A robust, process-shared, error-checking mutex in an anonymous shared page. */
pthread_mutex_t *raw_mutex(void);
void *shared_page(void); /* one anonymous MAP_SHARED page */

/* cbase_2proc.c: n iterations each; the result is the elapsed time in ns. */
int64_t b_ipcarc_contended(int64_t n, size_t arg);
int64_t b_atomic_contended(int64_t n, size_t arg);
int64_t b_raw_contended(int64_t n, size_t arg);
int64_t b_futex_pingpong(int64_t n, size_t one_cpu);

#endif
