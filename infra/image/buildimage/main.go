// Command buildimage writes the Cloud Run image as an OCI image layout
// archive, without a Docker daemon (`make image`).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/claude-gateway/claude-gateway/infra/image"
)

func main() {
	bin := flag.String("binary", "bin/image/gateway", "static linux gateway binary (functions/cloudrun)")
	cfg := flag.String("config", "config.example.yaml", "config.yaml to bundle beside the binary")
	certs := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA roots")
	arch := flag.String("arch", "amd64", "image architecture")
	ref := flag.String("tag", "claude-gateway:latest", "reference name recorded in the layout")
	out := flag.String("o", "bin/gateway-image.tar", "output archive")
	flag.Parse()

	opts := image.Options{Binary: *bin, Config: *cfg, CACerts: *certs, Arch: *arch}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "buildimage: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		opts.Created = time.Unix(sec, 0)
	}
	img, err := image.Build(opts)
	if err == nil {
		err = image.WriteOCIArchive(img, *ref, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildimage:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s: %s (%s, linux/%s, user %d, entrypoint %s)\n", *out, *ref, d, *arch, image.NonRoot, image.Entrypoint)
}
