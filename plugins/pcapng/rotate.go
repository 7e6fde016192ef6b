package pcapng

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rotation says when to start a new file, like dumpcap's -b.
type rotation struct {
	size    int64         // bytes; 0: never
	seconds time.Duration // 0: never
	keep    int           // files kept; 0: all
}

func (r rotation) on() bool { return r.size > 0 || r.seconds > 0 }

func (r rotation) due(written int64, age time.Duration) bool {
	return (r.size > 0 && written >= r.size) || (r.seconds > 0 && age >= r.seconds)
}

func parseRotation(opts map[string]string) (rotation, error) {
	var r rotation
	num := func(key string) (int64, error) {
		v := opts[key]
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("pcapng: %s=%s: want a whole number ≥ 0", key, v)
		}
		return n, nil
	}
	var err error
	if r.size, err = num("rotate_size"); err != nil {
		return r, err
	}
	secs, err := num("rotate_seconds")
	if err != nil {
		return r, err
	}
	r.seconds = time.Duration(secs) * time.Second
	keep, err := num("keep")
	if err != nil {
		return r, err
	}
	r.keep = int(keep)
	if r.keep > 0 && !r.on() {
		return r, fmt.Errorf("pcapng: keep=%d needs rotate_size or rotate_seconds", r.keep)
	}
	return r, nil
}

// rotatedName is dumpcap's naming: out.pcapng → out_00001_20261123121500.pcapng.
func rotatedName(path string, seq int, t time.Time) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s_%05d_%s%s", strings.TrimSuffix(path, ext), seq, t.Format("20060102150405"), ext)
}

// countingWriter counts the bytes that reached the file.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
