package embedded

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// The counters snapshot: snapMagic, the entries, then the CRC-32C of all
// that. Each entry is [len][key][n i64][expires unix nanos i64][len][value].
// It is written whole to a temporary file, fsynced and renamed over the old
// one, so a crash leaves either snapshot, never half of one.
const (
	snapName  = "kv.snap"
	snapMagic = "cgkv0001"
)

func writeSnapshot(dir string, items []memory.Item) error {
	b := []byte(snapMagic)
	for _, it := range items {
		b = binary.AppendUvarint(b, uint64(len(it.Key)))
		b = append(b, it.Key...)
		b = binary.BigEndian.AppendUint64(b, uint64(it.N))
		b = binary.BigEndian.AppendUint64(b, uint64(it.Expires.UnixNano()))
		b = binary.AppendUvarint(b, uint64(len(it.Value)))
		b = append(b, it.Value...)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable()))
	tmp := filepath.Join(dir, snapName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, snapName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	return err
}

// readSnapshot returns the snapshot's entries (none if there is no file).
func readSnapshot(path string) ([]memory.Item, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bad := errors.New(path + ": not a whole snapshot")
	if len(b) < len(snapMagic)+4 || string(b[:len(snapMagic)]) != snapMagic {
		return nil, bad
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable()) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, bad
	}
	var out []memory.Item
	for p := body[len(snapMagic):]; len(p) > 0; {
		key, rest, ok := uvarintBytes(p)
		if !ok || len(rest) < 16 {
			return nil, bad
		}
		it := memory.Item{Key: string(key), N: int64(binary.BigEndian.Uint64(rest)),
			Expires: time.Unix(0, int64(binary.BigEndian.Uint64(rest[8:])))}
		val, rest, ok := uvarintBytes(rest[16:])
		if !ok {
			return nil, bad
		}
		it.Value, p = string(val), rest
		out = append(out, it)
	}
	return out, nil
}
