package image

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// gatewayBinary is functions/cloudrun built once, static, for this machine
// (the image for Cloud Run is built the same way for linux/amd64).
var gatewayBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-image-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBinary = filepath.Join(dir, "gateway")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-trimpath", "-o", gatewayBinary, "../../functions/cloudrun")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the gateway: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCACerts stands in for the build host's CA bundle, so the tests do not
// depend on where (or whether) the host keeps one.
const testCACerts = "testdata/ca-certificates.crt"

var built struct {
	once sync.Once
	img  v1.Image
	err  error
}

// buildImage builds the test image once per test binary (compressing a
// static binary is the slow part, more so under -race).
func buildImage(t *testing.T) v1.Image {
	t.Helper()
	built.once.Do(func() {
		built.img, built.err = Build(Options{Binary: gatewayBinary, Config: "testdata/config.yaml", CACerts: testCACerts, Arch: runtime.GOARCH})
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.img
}

// files lists the image's flattened filesystem.
func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestImageConfigAndLayers(t *testing.T) {
	img := buildImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want the numeric non-root 65532:65532 (runAsNonRoot needs a number)", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != Entrypoint {
		t.Errorf("Entrypoint = %v", c.Entrypoint)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	fs := files(t, img)
	tests := []struct {
		path string
		mode int64
		uid  int
		typ  byte
	}{
		{Entrypoint, 0o755, 0, tar.TypeReg},
		{ConfigPath, 0o444, 0, tar.TypeReg},
		{CACerts, 0o644, 0, tar.TypeReg},
		{"/etc/passwd", 0o644, 0, tar.TypeReg},
		{"/home/nonroot", 0o700, NonRoot, tar.TypeDir},
		{"/tmp", 0o1777, 0, tar.TypeDir},
	}
	for _, tc := range tests {
		h, ok := fs[tc.path]
		if !ok {
			t.Errorf("%s missing from the image", tc.path)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Uid != tc.uid {
			t.Errorf("%s: type %c mode %o uid %d, want %c %o %d", tc.path, h.Typeflag, h.Mode, h.Uid, tc.typ, tc.mode, tc.uid)
		}
	}
	// Only the user's home and /tmp are writable by the user: the app is not.
	for p, h := range fs {
		if h.Uid == NonRoot && p != "/home/nonroot" {
			t.Errorf("%s is owned by the runtime user", p)
		}
	}
	if h := fs[Entrypoint]; h != nil {
		st, _ := os.Stat(gatewayBinary)
		if h.Size != st.Size() {
			t.Errorf("entrypoint is %d bytes, the binary %d", h.Size, st.Size())
		}
	}
	ids, _ := img.ConfigFile()
	if len(ids.RootFS.DiffIDs) != 2 {
		t.Errorf("want 2 layers (base, app), got %d", len(ids.RootFS.DiffIDs))
	}
}

func TestImageReproducible(t *testing.T) {
	// Small stand-ins for the binary: what matters is the packing.
	digest := func() v1.Hash {
		img, err := Build(Options{Binary: "testdata/config.yaml", Config: "testdata/config.yaml", CACerts: testCACerts})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := digest(), digest()
	if a != b {
		t.Fatalf("two builds of the same inputs differ: %s vs %s", a, b)
	}
}

func TestOCIArchive(t *testing.T) {
	img := buildImage(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteOCIArchive(img, "claude-gateway:test", out); err != nil {
		t.Fatal(err)
	}
	// Unpack and read it back as an OCI image layout.
	dir := t.TempDir()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "claude-gateway:test" {
		t.Fatalf("index = %+v", m.Manifests)
	}
	got, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("archived image %s, built %s", d, want)
	}
	if mt, _ := got.MediaType(); mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %s", mt)
	}
}

// extractRootFS unpacks the image into dir as Cloud Run would mount it.
func extractRootFS(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, data, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// makeReadOnly removes every write permission under dir (and restores them
// at cleanup so the test can delete it).
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	var paths []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { paths = append(paths, p); return nil })
	for i := len(paths) - 1; i >= 0; i-- {
		fi, _ := os.Lstat(paths[i])
		os.Chmod(paths[i], fi.Mode().Perm()&^0o222)
	}
	t.Cleanup(func() {
		for _, p := range paths {
			fi, err := os.Lstat(p)
			if err == nil {
				os.Chmod(p, fi.Mode().Perm()|0o200)
			}
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The image's entrypoint runs as Cloud Run runs it: PORT from the
// environment, the image's non-root user, a read-only file system; on
// SIGTERM with streams in flight it stops taking connections, lets every
// stream finish and exits 0.
func TestRunsLikeCloudRun(t *testing.T) {
	img := buildImage(t)
	root := t.TempDir()
	extractRootFS(t, img, root)
	makeReadOnly(t, root)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	cf, _ := img.ConfigFile()
	cmd := exec.Command(filepath.Join(root, Entrypoint))
	cmd.Dir = filepath.Join(root, cf.Config.WorkingDir)
	// Cloud Run's environment: the image's, PORT, and the service's variables.
	cmd.Env = append(append([]string{}, cf.Config.Env...), "PORT="+port, "K_SERVICE=claude-gateway", "K_REVISION=claude-gateway-00001", "GATEWAY_MASTER_KEY=sk-test",
		"GATEWAY_STATE_STORE=memory") // Firestore needs Google credentials this test does not have
	if os.Geteuid() == 0 {
		// As the image's USER, so write permissions are really enforced
		// (t.TempDir's own directories are private to root: open them).
		os.Chmod(filepath.Dir(root), 0o755)
		os.Chmod(root, 0o555)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: NonRoot, Gid: NonRoot}}
	}
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("gateway output:\n%s", logs.String())
		}
	}()

	base := "http://127.0.0.1:" + port
	waitReady(t, base, exited)

	const streams = 3
	type result struct {
		events []string
		err    error
	}
	started := make(chan struct{}, streams)
	results := make(chan result, streams)
	for range streams {
		go func() {
			req, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader(
				`{"model":"claude-sonnet","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
			req.Header.Set("x-api-key", "sk-test")
			req.Header.Set("content-type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				started <- struct{}{}
				results <- result{err: err}
				return
			}
			defer res.Body.Close()
			var r result
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
					if len(r.events) == 0 {
						started <- struct{}{}
					}
					r.events = append(r.events, name)
				}
			}
			r.err = sc.Err()
			results <- r
		}()
	}
	for range streams {
		<-started
	}
	// Cloud Run sends SIGTERM and allows 10 s before SIGKILL.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range streams {
		r := <-results
		if r.err != nil {
			t.Fatalf("stream failed: %v", r.err)
		}
		if len(r.events) == 0 || r.events[len(r.events)-1] != "message_stop" {
			t.Fatalf("stream cut by shutdown: %v", r.events)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM (Cloud Run would SIGKILL)")
	}
	// Nothing was written: the tree is exactly the image's.
	want := files(t, img)
	filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error {
		rel, _ := filepath.Rel(root, p)
		if rel = "/" + filepath.ToSlash(rel); rel != "/." && want[rel] == nil {
			t.Errorf("the gateway wrote %s", rel)
		}
		return nil
	})
	out := logs.String()
	for _, want := range []string{`"severity":"INFO","message":"listening"`, `"config":"file ` + filepath.Join(root, ConfigPath), `"message":"stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

func waitReady(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("gateway exited during start-up: %v", err)
		default:
		}
		res, err := http.Get(base + "/health/readiness")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("gateway not ready after 15 s")
}
