package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chive-im/chive/tui"
)

func TestConfigCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	envv := map[string]string{"XDG_CONFIG_HOME": dir, "HOME": "/nonexistent"}
	want := filepath.Join(dir, "chive", "config.toml")

	r := chive(t, ctx, "", envv, "config", "path")
	wantCode(t, r, exitOK)
	if strings.TrimSpace(r.stdout) != want {
		t.Errorf("path = %q, want %q", r.stdout, want)
	}
	r = chive(t, ctx, "", map[string]string{"CHIVE_CONFIG": "/etc/chive.toml", "XDG_CONFIG_HOME": dir}, "config", "path")
	if strings.TrimSpace(r.stdout) != "/etc/chive.toml" {
		t.Errorf("CHIVE_CONFIG: path = %q", r.stdout)
	}

	// No file: the defaults, saying so, and the output is a valid file.
	r = chive(t, ctx, "", envv, "config", "show")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "the defaults: there is no "+want) || !strings.Contains(r.stdout, `quit = ["ctrl+q"]`) {
		t.Errorf("show without a file:\n%s", r.stdout)
	}
	os.MkdirAll(filepath.Dir(want), 0o700)
	if err := os.WriteFile(want, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tui.LoadConfig(want); err != nil {
		t.Fatalf("show's output does not load: %v", err)
	}

	// A file: its values over the defaults.
	os.WriteFile(want, []byte("[keys]\npreset = \"vim\"\n[layout]\nmax_width = 72\n"), 0o600)
	r = chive(t, ctx, "", envv, "config", "show")
	wantCode(t, r, exitOK)
	for _, s := range []string{"over the defaults", `preset = "vim"`, "max_width = 72", `scroll_top = ["home", "g g"]`, `content = "sender"`} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("show lacks %q:\n%s", s, r.stdout)
		}
	}

	// A mistake is an error naming it.
	os.WriteFile(want, []byte("[layout]\nmax_widht = 72\n"), 0o600)
	r = chive(t, ctx, "", envv, "config", "show")
	wantCode(t, r, exitError)
	if !strings.Contains(r.stderr, "unknown setting layout.max_widht") {
		t.Errorf("stderr: %s", r.stderr)
	}
	wantCode(t, chive(t, ctx, "", envv, "config"), exitUsage)
	wantCode(t, chive(t, ctx, "", envv, "config", "path", "x"), exitUsage)
}
