package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Switch is the network between one client tor and the test network, to
// take it away and give it back: a SOCKS5 proxy on the loopback that the
// client makes its relay connections through (Torrc: "Socks5Proxy ...").
// Off closes every connection through it and answers new ones "network
// unreachable", as a machine whose network went away; On restores it.
// Nothing else is touched: the shared network's relays keep running for
// everyone else.
type Switch struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	off    bool
	closed bool
	conns  map[net.Conn]struct{}
}

// NewSwitch starts a switch, on. Close it when done.
func NewSwitch() (*Switch, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testnet: switch: %w", err)
	}
	s := &Switch{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Torrc is the client torrc line that routes its connections through s.
func (s *Switch) Torrc() []string {
	return []string{"Socks5Proxy " + s.ln.Addr().String()}
}

// Off cuts every connection and refuses new ones.
func (s *Switch) Off() {
	s.mu.Lock()
	s.off = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// On lets connections through again.
func (s *Switch) On() {
	s.mu.Lock()
	s.off = false
	s.mu.Unlock()
}

// Close stops the switch and cuts its connections. Idempotent.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Switch) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c)
		}()
	}
}

// track registers c to be cut by Off and Close; false if closed.
func (s *Switch) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Switch) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Switch) isOff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off
}

// SOCKS5 (RFC 1928), no authentication, CONNECT only: what tor speaks.
const (
	repOK          = 0x00
	repFailure     = 0x01
	repNetUnreach  = 0x03
	repCmdUnsupp   = 0x07
	repAddrUnsupp  = 0x08
	socksVersion   = 0x05
	socksConnect   = 0x01
	atypIPv4       = 0x01
	atypDomain     = 0x03
	atypIPv6       = 0x04
	handshakeLimit = 10 * time.Second
)

func (s *Switch) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(handshakeLimit))
	target, err := readConnect(c)
	if err != nil {
		if errors.Is(err, errCommand) {
			reply(c, repCmdUnsupp)
		}
		return
	}
	if s.isOff() {
		reply(c, repNetUnreach)
		return
	}
	up, err := net.DialTimeout("tcp", target, handshakeLimit)
	if err != nil {
		reply(c, repFailure)
		return
	}
	if !s.track(up) {
		up.Close()
		return
	}
	defer s.untrack(up)
	if s.isOff() { // switched off while we dialed
		reply(c, repNetUnreach)
		return
	}
	if reply(c, repOK) != nil {
		return
	}
	c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

var errCommand = errors.New("unsupported SOCKS command")

// readConnect reads the greeting and a CONNECT request and returns its
// target as host:port.
func readConnect(c net.Conn) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != socksVersion {
		return "", fmt.Errorf("bad greeting: %v", err)
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte{socksVersion, 0x00}); err != nil { // no authentication
		return "", err
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != socksVersion {
		return "", fmt.Errorf("bad request: %v", err)
	}
	if req[1] != socksConnect {
		return "", errCommand
	}
	var host string
	switch req[3] {
	case atypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case atypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", err
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return "", err
		}
		host = string(b)
	default:
		reply(c, repAddrUnsupp)
		return "", errors.New("unsupported address type")
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}

func reply(c net.Conn, rep byte) error {
	_, err := c.Write([]byte{socksVersion, rep, 0x00, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}
