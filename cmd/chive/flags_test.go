package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		wait string
		pos  []string
	}{
		{[]string{"bob", "hi", "--wait", "delivered"}, "delivered", []string{"bob", "hi"}},
		{[]string{"--wait=sent", "bob", "hi"}, "sent", []string{"bob", "hi"}},
		{[]string{"bob", "--wait", "sent", "hi"}, "sent", []string{"bob", "hi"}},
		{[]string{"bob", "--", "--wait", "x"}, "", []string{"bob", "--wait", "x"}},
		{nil, "", nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		wait := fs.String("wait", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if *wait != tc.wait || !reflect.DeepEqual(pos, tc.pos) {
			t.Errorf("%q: wait=%q pos=%q, want %q %q", tc.args, *wait, pos, tc.wait, tc.pos)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"bob", "--nope"}); err == nil {
		t.Error("unknown flag after positional: no error")
	}
}
