/*
 * validate.c - the checks every peer makes before it trusts a name or a
 * segment (LAYOUT.md, "Validation"): names, the type tag, the ABI word, the
 * field names of errors, the spec's bounds, the layout arithmetic shared by
 * create and validate, the mutex kind, and the header checks in the
 * documented order.
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <string.h>

uint64_t ipcarc_tag(const char *s) {
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint32_t arch_code(void) {
#if defined(__x86_64__)
	return IPCARC_ARCH_AMD64;
#elif defined(__aarch64__)
	return IPCARC_ARCH_ARM64;
#elif defined(__i386__)
	return IPCARC_ARCH_386;
#elif defined(__arm__)
	return IPCARC_ARCH_ARM;
#elif defined(__riscv) && __riscv_xlen == 64
	return IPCARC_ARCH_RISCV64;
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return IPCARC_ARCH_PPC64LE;
#elif defined(__s390x__)
	return IPCARC_ARCH_S390X;
#else
	return IPCARC_ARCH_UNKNOWN;
#endif
}

uint32_t ipcarc_abi(void) {
	return arch_code() << 24 | (uint32_t)sizeof(void *) << 16 | (uint32_t)sizeof(pthread_mutex_t);
}

const char *ipcarc_field_name(int f) {
	switch (f) {
	case IPCARC_FIELD_NONE: return "none";
	case IPCARC_FIELD_FILE: return "file type";
	case IPCARC_FIELD_SIZE: return "file size";
	case IPCARC_FIELD_MAGIC: return "magic";
	case IPCARC_FIELD_VERSION: return "layout version";
	case IPCARC_FIELD_ABI: return "ABI word";
	case IPCARC_FIELD_STATE: return "state";
	case IPCARC_FIELD_LAYOUT: return "layout fields";
	case IPCARC_FIELD_VALUE_SIZE: return "value size";
	case IPCARC_FIELD_VALUE_ALIGN: return "value alignment";
	case IPCARC_FIELD_TYPE_TAG: return "type tag";
	case IPCARC_FIELD_REFCOUNT: return "reference count";
	case IPCARC_FIELD_HOLDERS: return "holder table";
	case IPCARC_FIELD_MUTEX: return "mutex kind";
	case IPCARC_FIELD_TABLE_LOCK: return "holder table lock";
	case IPCARC_FIELD_VALUE_LOCK: return "value lock";
	case IPCARC_FIELD_INIT: return "creator still initialising";
	case IPCARC_FIELD_LIFETIME: return "lifetime";
	case IPCARC_FIELD_HANDLES: return "handles per attachment";
	case IPCARC_FIELD_ENDED: return "ended";
	case IPCARC_FIELD_OWNER: return "owner";
	case IPCARC_FIELD_MODE: return "mode";
	case IPCARC_FIELD_SHAPE: return "shape";
	case IPCARC_FIELD_LENGTH: return "slice length";
	}
	return "unknown";
}

int ipcarc_check_name(const char *name) {
	if (!name) return EINVAL;
	if (name[0] == '/') name++;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '.' || c == '_' || c == '-';
		if (!ok || n >= IPCARC_NAME_MAX) return EINVAL;
	}
	if (n == 0) return EINVAL;
	/* "." and ".." would name directories. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return EINVAL;
	return 0;
}

/* ---- validation ------------------------------------------------------------ */

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* Layout arithmetic shared by create and validate. */
uint64_t value_offset(uint32_t max_holders, uint32_t align) {
	uint64_t a = align < IPCARC_MIN_VALUE_ALIGN ? IPCARC_MIN_VALUE_ALIGN : align;
	uint64_t end = (uint64_t)IPCARC_HEADER_SIZE + (uint64_t)max_holders * IPCARC_HOLDER_SIZE;
	return (end + a - 1) & ~(a - 1);
}

/* The bytes of the value area: value_size for one value, value_size *
 * capacity for a slice. 1 when they pass 2^46 (the bound on every size). */
int area_of(uint32_t shape, uint64_t value_size, uint64_t capacity, uint64_t *area) {
	const uint64_t lim = (uint64_t)1 << 46;
	if (shape != IPCARC_SHAPE_SLICE) {
		*area = value_size;
		return value_size > lim;
	}
	if (capacity > lim || (value_size && capacity > lim / value_size)) return 1;
	*area = value_size * capacity;
	return 0;
}

int spec_check(const ipcarc_spec *sp) {
	if (!sp) return EINVAL;
	uint32_t al = sp->value_align ? sp->value_align : 1;
	if (!is_pow2(al) || al > IPCARC_MAX_ALIGN) return EINVAL;
	if (sp->max_holders > IPCARC_MAX_HOLDERS) return EINVAL;
	if (sp->value_size > ((uint64_t)1 << 46)) return EINVAL; /* 64 TiB: keeps sums far from overflow */
	if (sp->lifetime > IPCARC_LIFETIME_UNTIL_REMOVED) return EINVAL;
	if (sp->shape > IPCARC_SHAPE_SLICE) return EINVAL;
	if (sp->n_trusted_uids > IPCARC_MAX_TRUSTED_UIDS || (sp->trust_flags & ~IPCARC_TRUST_GROUP)) return EINVAL;
	return 0;
}

int ipcarc_kind_cache = -1;

#ifdef __GLIBC__
int mutex_reference_kind(void) {
	int kind = A_LOAD(&ipcarc_kind_cache, RLX);
	if (kind == -1) {
		pthread_mutexattr_t at;
		pthread_mutex_t m;
		ipcarc_mutex_attr(&at);
		pthread_mutex_init(&m, &at);
		pthread_mutexattr_destroy(&at);
		kind = m.__data.__kind;
		pthread_mutex_destroy(&m);
		A_STORE(&ipcarc_kind_cache, kind, RLX);
	}
	return kind;
}
#endif

int ipcarc_mutex_kind_ok(const ipcarc_header *h) {
#ifdef __GLIBC__
	/* A mutex of another kind (or scribbled over) could make glibc block on a
	 * live stranger or misbehave: compare each mutex's kind with one we
	 * initialise ourselves. */
	int want = mutex_reference_kind();
	return A_LOAD(&h->m.mutex.__data.__kind, RLX) == want && A_LOAD(&h->t.mutex.__data.__kind, RLX) == want;
#else
	(void)h;
	return 1;
#endif
}

/* Check a private copy of the header in the documented order. st_size is the
 * file's size; a NULL spec skips the type checks (gc, remove). */
int seg_validate(const ipcarc_header *h, uint64_t st_size, const ipcarc_spec *sp, int *field) {
#define FAIL(code, f)          \
	do {                       \
		if (field) *field = f; \
		return code;           \
	} while (0)
	if (st_size < IPCARC_HEADER_SIZE) FAIL(EBADMSG, IPCARC_FIELD_SIZE);
	if (h->magic == IPCARC_MAGIC_V1) FAIL(EPROTONOSUPPORT, IPCARC_FIELD_VERSION); /* a layout-1 segment */
	if (h->magic != IPCARC_MAGIC) FAIL(EBADMSG, IPCARC_FIELD_MAGIC);
	if (h->version != IPCARC_LAYOUT_VERSION) FAIL(EPROTONOSUPPORT, IPCARC_FIELD_VERSION);
	if (h->abi != ipcarc_abi()) FAIL(EPROTONOSUPPORT, IPCARC_FIELD_ABI);
	uint32_t st = h->state;
	if (st != IPCARC_STATE_READY && st != IPCARC_STATE_DEAD) FAIL(EBADMSG, IPCARC_FIELD_STATE);
	uint32_t al = h->value_align;
	if (h->holders_off != IPCARC_HEADER_SIZE || h->max_holders == 0 ||
	    h->max_holders > IPCARC_MAX_HOLDERS || !is_pow2(al) || al > IPCARC_MAX_ALIGN ||
	    h->value_size > ((uint64_t)1 << 46) || h->value_off != value_offset(h->max_holders, al))
		FAIL(EBADMSG, IPCARC_FIELD_LAYOUT);
	uint32_t shape = h->shape;
	if (shape > IPCARC_SHAPE_SLICE) FAIL(EBADMSG, IPCARC_FIELD_SHAPE);
	uint64_t area;
	if (area_of(shape, h->value_size, h->capacity, &area)) FAIL(EBADMSG, IPCARC_FIELD_LAYOUT);
	if (h->total_size != h->value_off + area || h->total_size != st_size) FAIL(EBADMSG, IPCARC_FIELD_LAYOUT);
	if (h->lifetime > IPCARC_LIFETIME_UNTIL_REMOVED) FAIL(EBADMSG, IPCARC_FIELD_LIFETIME);
	if (sp) {
		uint32_t want_al = sp->value_align ? sp->value_align : 1;
		if (shape != sp->shape) FAIL(EPROTOTYPE, IPCARC_FIELD_SHAPE);
		if (h->value_size != sp->value_size) FAIL(EPROTOTYPE, IPCARC_FIELD_VALUE_SIZE);
		if (al != want_al) FAIL(EPROTOTYPE, IPCARC_FIELD_VALUE_ALIGN);
		if (h->type_tag != sp->type_tag) FAIL(EPROTOTYPE, IPCARC_FIELD_TYPE_TAG);
	}
	if (!ipcarc_mutex_kind_ok(h)) FAIL(EBADMSG, IPCARC_FIELD_MUTEX);
	return 0;
#undef FAIL
}