// Package image assembles the Cloud Run container image without a Docker
// daemon: the same filesystem the Dockerfile produces (a static gateway
// binary and its config under /app, CA roots, a passwd naming the non-root
// user 65532), as OCI layers on an empty base, written as an OCI image
// layout archive (`skopeo copy oci-archive:...`, `docker load` on Docker 25+,
// `podman load`).
//
// Layers are reproducible: fixed timestamps and owners, sorted entries, so
// the same inputs give the same digests.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image. The config sits beside the binary, where the
// gateway looks when nothing else names one (as on Lambda).
const (
	Entrypoint = "/app/gateway"
	ConfigPath = "/app/config.yaml"
	CACerts    = "/etc/ssl/certs/ca-certificates.crt"
	// NonRoot is distroless's "nonroot" user and group.
	NonRoot = 65532
	// Port is the default for `docker run`; Cloud Run sets PORT itself.
	Port = "8080"
)

// Options name the inputs.
type Options struct {
	// Binary is the static gateway binary (built from functions/cloudrun).
	Binary string
	// Config is the config.yaml to bundle.
	Config string
	// CACerts is a PEM bundle of root certificates (default: the build host's).
	CACerts string
	// Arch is the image's architecture (Cloud Run runs amd64).
	Arch string
	// Created stamps the image and its files (default: the Unix epoch, for
	// reproducible digests; pass SOURCE_DATE_EPOCH's time if wanted).
	Created time.Time
}

type entry struct {
	hdr  tar.Header
	data []byte
}

// Build returns the image.
func Build(opts Options) (v1.Image, error) {
	if opts.CACerts == "" {
		opts.CACerts = "/etc/ssl/certs/ca-certificates.crt"
	}
	if opts.Arch == "" {
		opts.Arch = "amd64"
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		return b, nil
	}
	bin, err := read(opts.Binary)
	if err != nil {
		return nil, err
	}
	cfgYAML, err := read(opts.Config)
	if err != nil {
		return nil, err
	}
	certs, err := read(opts.CACerts)
	if err != nil {
		return nil, err
	}
	t := opts.Created
	dir := func(name string, mode int64, uid int) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: t}}
	}
	file := func(name string, mode int64, data []byte) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: t}, data: data}
	}
	nr := fmt.Sprint(NonRoot)
	base := []entry{
		dir("etc", 0o755, 0),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:"+nr+":"+nr+":nonroot:/home/nonroot:/sbin/nologin\n")),
		file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:"+nr+":\n")),
		// Go's resolver reads it to order /etc/hosts before DNS.
		file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		dir("etc/ssl", 0o755, 0),
		dir("etc/ssl/certs", 0o755, 0),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, certs),
		dir("home", 0o755, 0),
		dir("home/nonroot", 0o700, NonRoot),
		dir("root", 0o700, 0),
		dir("tmp", 0o1777, 0),
	}
	app := []entry{
		dir("app", 0o755, 0),
		file("app/gateway", 0o755, bin),
		file("app/config.yaml", 0o444, cfgYAML),
	}
	var layers []v1.Layer
	for _, entries := range [][]entry{base, app} {
		l, err := layer(entries)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", opts.Arch
	cf.Created = v1.Time{Time: t}
	cf.Config = v1.Config{
		User:       nr + ":" + nr,
		Entrypoint: []string{Entrypoint},
		WorkingDir: "/app",
		Env: []string{
			"PATH=/app",
			"PORT=" + Port,
			"SSL_CERT_FILE=" + CACerts,
		},
		ExposedPorts: map[string]struct{}{Port + "/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "claude-gateway",
			"org.opencontainers.image.description": "Anthropic-compatible gateway over Bedrock, Vertex AI and the Anthropic API",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// layer packs entries (sorted, root-owned unless stated) into an OCI layer.
func layer(entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Format = tar.FormatPAX
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// WriteOCIArchive writes img as an OCI image layout, tagged ref (the
// org.opencontainers.image.ref.name annotation), tarred into path.
func WriteOCIArchive(img v1.Image, ref, path string) error {
	dir, err := os.MkdirTemp("", "oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return err
	}
	return tarDir(dir, path)
}

// tarDir archives a directory's contents with fixed metadata.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		}
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
