package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// files are the console's assets; nothing is fetched from anywhere else.
//
//go:embed assets
var files embed.FS

// asset is one file, with its gzip form.
type asset struct {
	raw, gz []byte
	ctype   string
}

// assets holds every embedded file and the index page, whose asset URLs
// carry a content hash (?v=...) so browsers cache assets for a long time and
// still see a new build at once. They are hashed and gzipped at the first
// console request, not at start: that work took most of a cold start, and a
// gateway that never serves /ui (Lambda behind Claude Code) never pays it.
type assets struct {
	load func() *loadedAssets
}

// loadedAssets are the assets once hashed and gzipped.
type loadedAssets struct {
	byName  map[string]*asset
	index   *asset
	version string
}

// indexFile is the page shell; "{{v}}" in it becomes the content hash.
const indexFile = "index.html"

func newAssets() *assets { return &assets{load: sync.OnceValue(loadAssets)} }

func loadAssets() *loadedAssets {
	a := &loadedAssets{byName: map[string]*asset{}}
	sum := sha256.New()
	_ = fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum.Write(b)
		name := strings.TrimPrefix(p, "assets/")
		a.byName[name] = newAsset(name, b)
		return nil
	})
	a.version = hex.EncodeToString(sum.Sum(nil))[:12]
	raw := a.byName[indexFile].raw
	a.index = newAsset(indexFile, bytes.ReplaceAll(raw, []byte("{{v}}"), []byte(a.version)))
	delete(a.byName, indexFile)
	return a
}

func newAsset(name string, b []byte) *asset {
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return &asset{raw: b, gz: buf.Bytes(), ctype: ct}
}

func (a *assets) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	a.load().index.write(w, r)
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	l := a.load()
	f := l.byName[r.PathValue("file")]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == l.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	f.write(w, r)
}

func (f *asset) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Vary", "Accept-Encoding")
	body := f.raw
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// compressedSize is the whole console's gzip size (the index and every asset).
func (a *loadedAssets) compressedSize() int {
	n := len(a.index.gz)
	for _, f := range a.byName {
		n += len(f.gz)
	}
	return n
}
