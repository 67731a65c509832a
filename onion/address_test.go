package onion

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// The Tor Project website's real v3 address, so the checksum code is
// checked against tor, not only against itself.
const torProjectOnion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"

func TestAddressKnownAnswer(t *testing.T) {
	a, err := ParseAddress(torProjectOnion + ".onion")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := a.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if got := AddressFromPublicKey(pub); got != a {
		t.Fatalf("round trip: got %s, want %s", got, a)
	}
}

func TestAddressRoundTrip(t *testing.T) {
	for i := 0; i < 50; i++ {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		a := AddressFromPublicKey(pub)
		if len(a) != 56 || strings.ToLower(string(a)) != string(a) {
			t.Fatalf("not canonical: %q", a)
		}
		back, err := a.PublicKey()
		if err != nil || !bytes.Equal(back, pub) {
			t.Fatalf("PublicKey() = %x, %v; want %x", back, err, pub)
		}
		p, err := ParseAddress(a.URI())
		if err != nil || p != a {
			t.Fatalf("ParseAddress(URI) = %q, %v", p, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	good := Address(torProjectOnion)
	// flip changes one character at position i to another valid base32 one.
	flip := func(i int) string {
		b := []byte(torProjectOnion)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	// Same key and checksum, version byte 4: re-encode.
	raw, _ := b32.DecodeString(strings.ToUpper(torProjectOnion))
	raw[34] = 4
	v4 := strings.ToLower(b32.EncodeToString(raw))

	tests := []struct {
		name, in string
		want     Address
		err      error
	}{
		{"canonical", torProjectOnion, good, nil},
		{"upper case", strings.ToUpper(torProjectOnion), good, nil},
		{"mixed case with .onion", strings.ToUpper(torProjectOnion[:10]) + torProjectOnion[10:] + ".ONION", good, nil},
		{".onion", torProjectOnion + ".onion", good, nil},
		{"surrounding spaces", "  \t" + torProjectOnion + " \n", good, nil},
		{"wrapped across lines", torProjectOnion[:30] + "\n" + torProjectOnion[30:], good, nil},
		{"chive URI", "chive:" + torProjectOnion, good, nil},
		{"chive:// URI", "chive://" + torProjectOnion, good, nil},
		{"chive:// URI trailing slash", " CHIVE://" + torProjectOnion + ".onion/ ", good, nil},
		{"empty", "", "", ErrAddressLength},
		{"only spaces", "   ", "", ErrAddressLength},
		{"v2 address", "expyuzz4wqqyqhjn", "", ErrAddressLength},
		{"too short", torProjectOnion[:55], "", ErrAddressLength},
		{"too long", torProjectOnion + "a", "", ErrAddressLength},
		{"port suffix", torProjectOnion + ":7467", "", ErrAddressLength},
		{"bad base32 digit", torProjectOnion[:10] + "1" + torProjectOnion[11:], "", ErrAddressEncoding},
		{"bad base32 symbol", torProjectOnion[:55] + "=", "", ErrAddressEncoding},
		{"non-ascii", torProjectOnion[:54] + "é", "", ErrAddressEncoding},
		{"bad checksum (key char)", flip(3), "", ErrAddressChecksum},
		{"bad checksum (checksum char)", flip(52), "", ErrAddressChecksum},
		{"bad version", v4, "", ErrAddressVersion},
		{"other scheme", "http://" + torProjectOnion, "", ErrAddressLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseAddress(%q) error = %v, want %v", tt.in, err, tt.err)
				}
				if got != "" {
					t.Fatalf("ParseAddress(%q) = %q with an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAddressHelpers(t *testing.T) {
	a := Address(torProjectOnion)
	if a.URI() != "chive:"+torProjectOnion {
		t.Errorf("URI() = %q", a.URI())
	}
	if a.Short() != torProjectOnion[:8] {
		t.Errorf("Short() = %q", a.Short())
	}
	if a.Hostname() != torProjectOnion+".onion" {
		t.Errorf("Hostname() = %q", a.Hostname())
	}
	if _, err := Address("nope").PublicKey(); !errors.Is(err, ErrAddressLength) {
		t.Errorf("PublicKey of a bad address: %v", err)
	}
}

func FuzzParseAddress(f *testing.F) {
	f.Add(torProjectOnion)
	f.Add("chive:" + torProjectOnion)
	f.Add("chive://" + strings.ToUpper(torProjectOnion) + ".onion/")
	f.Add("expyuzz4wqqyqhjn.onion")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if a != "" {
				t.Fatalf("address %q returned with error %v", a, err)
			}
			for _, e := range []error{ErrAddressLength, ErrAddressEncoding, ErrAddressVersion, ErrAddressChecksum} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error %v is none of the documented ones", err)
		}
		// A parsed address is canonical and stable.
		pub, err := a.PublicKey()
		if err != nil {
			t.Fatalf("parsed %q but PublicKey fails: %v", a, err)
		}
		if AddressFromPublicKey(pub) != a {
			t.Fatalf("not canonical: %q", a)
		}
		if b, err := ParseAddress(string(a)); err != nil || b != a {
			t.Fatalf("reparse %q: %q, %v", a, b, err)
		}
		if b, err := ParseAddress(a.URI()); err != nil || b != a {
			t.Fatalf("reparse URI %q: %q, %v", a.URI(), b, err)
		}
	})
}

// TestParseAddressWords: what a user reads for a mistyped address.
func TestParseAddressWords(t *testing.T) {
	good := string(AddressFromPublicKey(make([]byte, 32)))
	for _, tt := range []struct{ in, want string }{
		{good[:55], "that is not a chive address: it has 55 characters; an address has 56 characters"},
		{"", "that is not a chive address: it is empty; an address has 56 characters"},
		{"expyuzz4wqqyqhjn", "that is not a chive address: it is an old (v2) Tor address, retired in 2021; an address has 56 characters"},
		{"1" + good[1:], `that is not a chive address: '1' (character 1) cannot be in it: an address has only the letters a to z and the digits 2 to 7`},
		{good[:10] + "é" + good[12:], `that is not a chive address: 'é' (character 11) cannot be in it: an address has only the letters a to z and the digits 2 to 7`},
		{good[:20] + swap(good[20]) + good[21:], "that is not a chive address: a character is mistyped (the address does not check out); copy the address again"},
		{good[:55] + "a", "that is not a chive address: a character is mistyped (it is no Tor v3 address); copy the address again"},
	} {
		_, err := ParseAddress(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseAddress(%q):\n got  %v\n want %s", tt.in, err, tt.want)
		}
	}
}

func swap(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestStaleCircuits(t *testing.T) {
	const a = "udhpbyz7bq2wbbj3ouhfmwtn7h6ankqz3dx3azfgrgj4jhfqh6zpsiad"
	status := "12 BUILT $A~a,$B~b,$C~c BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=" + a + " TIME_CREATED=2026-11-30T06:24:28.000000\n" +
		"13 BUILT $A~a PURPOSE=HS_CLIENT_INTRO HS_STATE=HSCI_DONE REND_QUERY=" + a + ".onion\n" +
		"14 BUILT $A~a PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED REND_QUERY=" + a + "\n" +
		"15 BUILT $A~a PURPOSE=HS_CLIENT_REND REND_QUERY=aaaa" + a[4:] + "\n" +
		"16 BUILT $A~a PURPOSE=GENERAL\n"
	got := staleCircuits(status, Address(a))
	if strings.Join(got, ",") != "12,13" {
		t.Errorf("staleCircuits = %v, want [12 13]", got)
	}
}
