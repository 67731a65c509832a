package onion

import "testing"

func TestParseStatus(t *testing.T) {
	for _, tt := range []struct {
		raw, sev string
		args     map[string]string
	}{
		{`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`, "NOTICE",
			map[string]string{"PROGRESS": "100", "TAG": "done", "SUMMARY": "Done"}},
		{`NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY="Loading relay descriptors"`, "NOTICE",
			map[string]string{"PROGRESS": "50", "TAG": "loading_descriptors", "SUMMARY": "Loading relay descriptors"}},
		{`WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore HOSTID="ABC" HOSTADDR="127.0.0.1:1"`, "WARN",
			map[string]string{"PROGRESS": "5", "WARNING": "Connection refused", "REASON": "CONNECTREFUSED", "HOSTADDR": "127.0.0.1:1"}},
		{`NOTICE BOOTSTRAP SUMMARY="say \"hi\"" PROGRESS=1`, "NOTICE",
			map[string]string{"SUMMARY": `say "hi"`, "PROGRESS": "1"}},
		{`NOTICE BOOTSTRAP SUMMARY="unterminated`, "NOTICE",
			map[string]string{"SUMMARY": "unterminated"}},
		{``, "", map[string]string{}},
	} {
		st := parseStatus(tt.raw)
		if st.severity != tt.sev {
			t.Errorf("%q: severity %q, want %q", tt.raw, st.severity, tt.sev)
		}
		for k, v := range tt.args {
			if st.args[k] != v {
				t.Errorf("%q: %s=%q, want %q", tt.raw, k, st.args[k], v)
			}
		}
	}
}

func TestOnStatus(t *testing.T) {
	var got []Progress
	tor := &Tor{ready: make(chan struct{})}
	tor.cfg.OnProgress = func(p Progress) {
		got = append(got, p)
		_ = tor.Progress() // the callback may call back into Tor
	}
	tor.onStatus(parseStatus(`WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED`))
	if p := tor.Progress(); p.Percent != 5 || p.Warning != "Connection refused" || !isNetworkProblem(p.Warning) {
		t.Errorf("after warning: %+v", p)
	}
	tor.onStatus(parseStatus(`NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"`))
	if p := tor.Progress(); p.Warning == "" {
		t.Errorf("warning dropped while stuck at the same step: %+v", p)
	}
	tor.onStatus(parseStatus(`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`))
	if p := tor.Progress(); p.Warning != "" || p.Percent != 100 {
		t.Errorf("after done: %+v", p)
	}
	select {
	case <-tor.ready:
	default:
		t.Error("ready not closed at 100%")
	}
	if len(got) != 3 {
		t.Errorf("OnProgress called %d times, want 3", len(got))
	}
}
