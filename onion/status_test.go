package onion

import (
	"strings"
	"testing"
)

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

// TestLivenessEvents: how tor's events move a bootstrapped tor between up,
// down and recovering.
func TestLivenessEvents(t *testing.T) {
	tor := &Tor{ready: make(chan struct{})}
	var seen []Liveness
	tor.cfg.OnProgress = func(p Progress) {
		if len(seen) == 0 || seen[len(seen)-1] != p.Liveness {
			seen = append(seen, p.Liveness)
		}
	}
	fail := func(n int, remote string) {
		for range n {
			tor.onCircuit("FAILED", "CHANNEL_CLOSED", remote)
		}
	}
	// Before bootstrap, nothing but bootstrap's own warnings.
	fail(5, "")
	tor.onClientStatus("CIRCUIT_NOT_ESTABLISHED", map[string]string{"REASON": "DIR_ALL_UNREACHABLE"})
	if p := tor.Progress(); p.Liveness != LivenessUp {
		t.Fatalf("before bootstrap: %+v", p)
	}
	tor.onStatus(parseStatus(`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`))

	fail(circuitFailuresDown-1, "")
	fail(10, "CONNECTFAILED") // a relay further along: not our network
	for range 10 {
		tor.onCircuit("FAILED", "REQUESTED", "") // closed on purpose
	}
	if p := tor.Progress(); p.Liveness != LivenessUp {
		t.Fatalf("after failures elsewhere: %+v", p)
	}
	fail(1, "")
	if p := tor.Progress(); p.Liveness != LivenessDown || !strings.Contains(p.Warning, "channel_closed") {
		t.Fatalf("after %d failures of ours: %+v", circuitFailuresDown, p)
	}
	tor.onCircuit("LAUNCHED", "", "")
	tor.onLiveness("UP")
	if p := tor.Progress(); p.Liveness != LivenessRecovering || p.Warning != "" {
		t.Fatalf("after liveness UP: %+v", p)
	}
	tor.onCircuit("BUILT", "", "")
	if p := tor.Progress(); p.Liveness != LivenessUp {
		t.Fatalf("after a circuit: %+v", p)
	}
	// A failure count does not carry over a built circuit.
	fail(circuitFailuresDown-1, "")
	tor.onCircuit("BUILT", "", "")
	fail(circuitFailuresDown-1, "")
	if p := tor.Progress(); p.Liveness != LivenessUp {
		t.Fatalf("failures split by a built circuit: %+v", p)
	}
	for _, tc := range []struct {
		down func()
		why  string
	}{
		{func() { tor.onLiveness("DOWN") }, "no network activity"},
		{func() {
			tor.onClientStatus("CIRCUIT_NOT_ESTABLISHED", map[string]string{"REASON": "DIR_ALL_UNREACHABLE"})
		}, "directory server"},
		{func() { tor.onClientStatus("CIRCUIT_NOT_ESTABLISHED", map[string]string{"REASON": "CLOCK_JUMPED"}) }, "clock jumped"},
		{func() { tor.onClientStatus("NOT_ENOUGH_DIR_INFO", nil) }, "directory information"},
	} {
		tc.down()
		if p := tor.Progress(); p.Liveness != LivenessDown || !strings.Contains(p.Warning, tc.why) {
			t.Errorf("want down (%s): %+v", tc.why, p)
		}
		tor.onClientStatus("CIRCUIT_ESTABLISHED", nil)
		if p := tor.Progress(); p.Liveness != LivenessUp || p.Warning != "" {
			t.Errorf("after CIRCUIT_ESTABLISHED: %+v", p)
		}
	}
	// Recovering only comes after down.
	tor.onClientStatus("ENOUGH_DIR_INFO", nil)
	if p := tor.Progress(); p.Liveness != LivenessUp {
		t.Errorf("ENOUGH_DIR_INFO while up: %+v", p)
	}
	if seen[0] != LivenessUp || seen[1] != LivenessDown || seen[2] != LivenessRecovering || seen[3] != LivenessUp {
		t.Errorf("transitions %q", seen)
	}
}
