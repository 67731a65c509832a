package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/onion"
)

func newStatus(e *env) *command {
	var (
		c       common
		u       unlock
		jsonOut bool
	)
	fs := newFlagSet("status")
	c.register(fs, e)
	u.register(fs, e)
	fs.BoolVar(&jsonOut, "json", false, "print the status as JSON")
	return &command{
		name:       "status",
		shortUsage: "chive status [--json]",
		shortHelp:  "show Tor's state, your address, contacts online and the outbox",
		longHelp: `Shows whether a daemon runs, Tor's bootstrap state, your address and whether
it is reachable, which of tor's flood defences protect it (streams per
circuit, proof of work), how many contacts are online and how many items
wait in the outbox. Without a daemon it opens the profile and reports what is stored
(Tor is not started).
`,
		flags: fs,
		exec: func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return status(ctx, e, &c, &u, jsonOut)
		},
	}
}

func status(ctx context.Context, e *env, c *common, u *unlock, jsonOut bool) error {
	s, err := attach(ctx, e, c, u)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.api.Status(ctx)
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, st)
	}
	w := e.stdout
	fmt.Fprintf(w, "name:      %s\n", oneLine(st.Name))
	fmt.Fprintf(w, "address:   %s\n", st.Address)
	fmt.Fprintf(w, "profile:   %s\n", s.dir)
	if st.Daemon {
		fmt.Fprintf(w, "daemon:    running\n")
		tor := fmt.Sprintf("%s %d%%", st.Tor.State, st.Tor.Percent)
		if st.Tor.Summary != "" {
			tor += " (" + oneLine(st.Tor.Summary) + ")"
		}
		fmt.Fprintf(w, "tor:       %s\n", tor)
		if st.Tor.Error != "" {
			fmt.Fprintf(w, "tor error: %s\n", oneLine(st.Tor.Error))
		}
		fmt.Fprintf(w, "reachable: %s\n", yesNo(st.Reachable))
		fmt.Fprintf(w, "defences:  %s\n", defences(st.Defences))
	} else {
		fmt.Fprintf(w, "daemon:    not running (start it with: chive daemon)\n")
		fmt.Fprintf(w, "tor:       not started\n")
	}
	fmt.Fprintf(w, "contacts:  %d (%d online, %d pending requests)\n", st.Contacts, st.ContactsOnline, st.PendingRequests)
	fmt.Fprintf(w, "outbox:    %d waiting\n", st.Outbox)
	if mb, err := s.api.MailboxStatus(ctx); err == nil && mb.Linked { // issue 16
		state := "not connected"
		if mb.Connected {
			state = "connected"
		}
		fmt.Fprintf(w, "mailbox:   %s (%s; chive mailbox status)\n", onion.Address(mb.Address).Short(), state)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// defences says which of tor's flood defences protect the onion service.
func defences(d *node.Defences) string {
	if d == nil {
		return "not known yet (the onion service is not published)"
	}
	s := fmt.Sprintf("at most %d streams per circuit", d.MaxStreams)
	if d.PoW {
		s += fmt.Sprintf(", proof of work on (queue %d/s, burst %d)", d.PoWQueueRate, d.PoWQueueBurst)
	} else {
		s += ", proof of work off (this tor is older than 0.4.9 or lacks its pow module)"
	}
	if d.TorVersion != "" {
		s += "; tor " + oneLine(d.TorVersion)
	}
	return s
}
