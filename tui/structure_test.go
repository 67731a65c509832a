package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDialogsDoNotSeeTheChat keeps dialogs apart from the chat model: they
// return actions, and chatModel.apply alone changes the chat.
func TestDialogsDoNotSeeTheChat(t *testing.T) {
	files, err := filepath.Glob("dialog_*.go")
	if err != nil || len(files) < 7 {
		t.Fatalf("dialog files: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "chatModel") {
			t.Errorf("%s mentions chatModel", f)
		}
	}
}
