package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	in := ": comment\n\nevent: message_start\ndata: {\"type\":\"message_start\"}\n\n" +
		"data: {\"type\":\"ping\"}\r\n\r\n" +
		"event: x\ndata: a\ndata: b\n\n"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one-byte": iotest.OneByteReader(strings.NewReader(in)),
	} {
		rd := NewReader(r)
		want := [][2]string{{"message_start", `{"type":"message_start"}`}, {"ping", `{"type":"ping"}`}, {"x", "a\nb"}}
		for i, w := range want {
			ev, err := rd.Next()
			if err != nil {
				t.Fatalf("%s: event %d: %v", name, i, err)
			}
			if ev.Type != w[0] || string(ev.Data) != w[1] {
				t.Errorf("%s: event %d = %q %q, want %q", name, i, ev.Type, ev.Data, w)
			}
		}
		if _, err := rd.Next(); err != io.EOF {
			t.Errorf("%s: end = %v, want EOF", name, err)
		}
	}
}

func TestReaderTruncated(t *testing.T) {
	rd := NewReader(strings.NewReader("event: a\ndata: {\"x\":1}\n"))
	if _, err := rd.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want ErrUnexpectedEOF", err)
	}
}

func TestAppendRoundTrip(t *testing.T) {
	ev := ErrorEvent("api_error", "boom")
	rd := NewReader(strings.NewReader(string(Append(nil, ev))))
	got, err := rd.Next()
	if err != nil || got.Type != "error" || string(got.Data) != string(ev.Data) {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestBufferedOnlyForWholeEvents(t *testing.T) {
	pr, pw := io.Pipe()
	rd := NewReader(pr)
	go pw.Write([]byte("event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: "))
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if !rd.Buffered() {
		t.Error("second whole event not reported as buffered")
	}
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if rd.Buffered() {
		t.Error("a partial event reported as buffered: the caller would wait without flushing")
	}
	pw.Close()
}

func TestReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 20000)
	in := "event: message_delta\ndata: {\"t\":\"" + long + "\"}\n\nevent: custom_event\ndata: 1\n\n"
	rd := NewReader(iotest.HalfReader(strings.NewReader(in)))
	ev, err := rd.Next()
	if err != nil || ev.Type != "message_delta" || string(ev.Data) != `{"t":"`+long+`"}` {
		t.Fatalf("long event: %v %s %d bytes", err, ev.Type, len(ev.Data))
	}
	ev, err = rd.Next()
	if err != nil || ev.Type != "custom_event" || string(ev.Data) != "1" {
		t.Fatalf("after long event: %v %q %q", err, ev.Type, ev.Data)
	}
}

func BenchmarkReaderEvent(b *testing.B) {
	one := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n"
	in := strings.Repeat(one, 1000)
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(strings.NewReader(in))
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}

// TestCloseWhileReading: Close during a blocked Next (a stream closed to
// unblock its read) leaves the buffer with the reader until that Next
// returns; Next after Close refuses.
func TestCloseWhileReading(t *testing.T) {
	pr, pw := io.Pipe()
	rd := NewReader(pr)
	done := make(chan error, 1)
	go func() {
		_, err := rd.Next()
		done <- err
	}()
	pw.Write([]byte("event: ping\n")) // the read is under way, mid-event
	rd.Close()
	pw.CloseWithError(errors.New("body closed"))
	if err := <-done; err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Next returned %v, want the body's error", err)
	}
	if _, err := rd.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v, want ErrClosed", err)
	}
	if rd.Buffered() {
		t.Fatal("a closed reader reports buffered events")
	}
	rd.Close() // twice is harmless
}

// watchedReader hands out one chunk per Read and records, at each Read,
// whether the sse.Reader waiting on it held a pooled buffer with nothing
// unread in it (what an idle stream must not do).
type watchedReader struct {
	chunks     []string
	rd         *Reader
	idleHolds  int // Reads made with nothing unread while holding a pooled buffer
	bigReads   int // Reads made into a pooled buffer
	smallReads int
}

func (w *watchedReader) Read(p []byte) (int, error) {
	if w.rd.big != nil {
		w.bigReads++
		if w.rd.r == w.rd.w {
			w.idleHolds++
		}
	} else {
		w.smallReads++
	}
	if len(w.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, w.chunks[0])
	if w.chunks[0] = w.chunks[0][n:]; w.chunks[0] == "" {
		w.chunks = w.chunks[1:]
	}
	return n, nil
}

// TestIdleReaderHoldsNoPooledBuffer: the pooled buffer is taken for an
// event larger than the small one and given back before the next wait.
func TestIdleReaderHoldsNoPooledBuffer(t *testing.T) {
	big := "event: message_start\ndata: {\"t\":\"" + strings.Repeat("x", 3*smallBufSize) + "\"}\n\n"
	small := "event: ping\ndata: {\"type\":\"ping\"}\n\n"
	src := &watchedReader{chunks: []string{big, small, big, small}}
	rd := NewReader(src)
	src.rd = rd
	for i := range 4 {
		if _, err := rd.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if src.bigReads == 0 {
		t.Fatal("the large events never used the pooled buffer: the test does not test it")
	}
	if src.idleHolds > 0 {
		t.Fatalf("%d reads waited for new data holding a pooled buffer", src.idleHolds)
	}
	if rd.big != nil {
		t.Fatal("pooled buffer held after the stream ended")
	}
}

// BenchmarkReaderEventsIdle: one event per Read, the shape of a live
// stream (each event waited for), so every event goes through the idle
// path (small buffer first).
func BenchmarkReaderEventsIdle(b *testing.B) {
	one := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n"
	chunks := make([]string, 100)
	for i := range chunks {
		chunks[i] = one
	}
	b.ReportAllocs()
	for b.Loop() {
		src := &watchedReader{chunks: append([]string(nil), chunks...)}
		rd := NewReader(src)
		src.rd = rd
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
