package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// checkBinary resolves the plugin's executable and refuses it when it could
// be replaced by someone else than root — only when ifacetrace runs as root,
// where a plugin swapped by another user would run code of theirs with
// ifacetrace's help — or when it does not have the pinned digest.
func checkBinary(name, pin string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	if path, err = filepath.EvalSymlinks(path); err != nil {
		return "", err
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", err
	}
	// ifacetrace's own binary (the built-in plugins) was trusted when it
	// was run as root: checking it again would add nothing.
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	if os.Geteuid() == 0 && path != self {
		for p := path; ; p = filepath.Dir(p) {
			if err := notWritableByOthers(p, p == path); err != nil {
				return "", err
			}
			if p == "/" {
				break
			}
		}
	}
	if pin != "" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, pin) {
			return "", fmt.Errorf("%s has sha256 %s, not the pinned %s: refusing to run it (reinstall it, or update the pin)", path, got, pin)
		}
	}
	return path, nil
}

// notWritableByOthers fails for a file, or a directory on its path, that a
// user other than root can change: group- or world-writable (directories
// with the sticky bit, such as /tmp, protect the files of others and pass),
// or owned by another user.
func notWritableByOthers(p string, file bool) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	what := "directory " + p
	if file {
		what = p
	}
	switch {
	case st.Uid != 0:
		return fmt.Errorf("refusing plugin: %s belongs to uid %d, not root, and ifacetrace runs as root: install it as root (e.g. under /usr/local/lib/ifacetrace/plugins)", what, st.Uid)
	case fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0):
		return fmt.Errorf("refusing plugin: %s is writable by others (mode %v) and ifacetrace runs as root: chmod go-w it", what, fi.Mode().Perm())
	}
	return nil
}

// socketDir creates the private directory the plugin puts its socket in,
// owned by the user the plugin runs as.
func socketDir(cred *syscall.Credential) (string, error) {
	dir, err := os.MkdirTemp("", "ifacetrace-plugin-")
	if err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.Remove(dir)
			return "", fmt.Errorf("socket directory: %w", err)
		}
	}
	return dir, nil
}
