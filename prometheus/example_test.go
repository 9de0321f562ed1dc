package ipcarcprom_test

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/ipcarc/ipcarc"
	ipcarcprom "github.com/ipcarc/ipcarc/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Export the segments whose names start with "myapp-" on /metrics. The
// collector reads them by name at each scrape, so the exporting process
// need not hold them: it may be a sidecar.
func ExampleNewCollector() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(ipcarcprom.NewCollector(ipcarcprom.WithPatterns("myapp-*")))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// log.Fatal(http.ListenAndServe(":9100", nil))
}

// Read one segment's metrics from a registry, as a scrape would.
func ExampleWithNames() {
	name := fmt.Sprintf("ipcarc-test-%d-example", os.Getpid())
	a, err := ipcarc.New(name, uint64(0))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	for i := range 3 {
		a.Store(uint64(i))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(ipcarcprom.NewCollector(ipcarcprom.WithNames(name)))
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "ipcarc_stores_total", "ipcarc_lock_acquisitions_total", "ipcarc_refcount":
			m := f.GetMetric()[0]
			fmt.Println(f.GetName(), m.GetLabel()[0].GetName(), m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	// Output:
	// ipcarc_lock_acquisitions_total segment 3
	// ipcarc_refcount segment 1
	// ipcarc_stores_total segment 3
}
