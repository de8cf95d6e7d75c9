// Command bareproxy is the yardstick for benchmarks: a bare
// httputil.ReverseProxy to one upstream, flushing every write.
package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	target, err := url.Parse(os.Getenv("UPSTREAM"))
	if err != nil || target.Host == "" {
		log.Fatal("set UPSTREAM to the upstream base URL")
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.FlushInterval = -1
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), p))
}
