package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/spec"
)

// Every spec under pipelines/ runs unchanged with penstock run -c SPEC:
// the daemon starts it on the spec's own addresses, and a request or
// datagram goes through wherever the spec's upstream addresses are free
// for the test to serve.
func TestEverySpecRunsInTheDaemon(t *testing.T) {
	specs, err := filepath.Glob("../../pipelines/*/*.yaml")
	require.NoError(t, err)
	for _, path := range specs {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			plan, err := spec.Parse(path, data)
			require.NoError(t, err)
			pl := plan.Pipelines[0]
			for _, l := range pl.Values.Listen {
				if !free(l) {
					t.Skipf("%s is busy", l)
				}
			}
			listen := strings.SplitN(pl.Values.Listen[0], "://", 2)[1]
			push := pushers[name]
			require.NotNil(t, push, "no traffic for %s", name)
			ready := push.serve(t, plan)
			d := startDaemon(t, "run", "-c", path)
			d.waitLog(t, "msg=listening")
			if ready {
				push.push(t, listen)
			} else {
				t.Logf("the spec's upstream addresses are busy: started and stopped it without traffic")
			}
			require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, d.wait(t), d.stderr.String())
		})
	}
}

// free reports whether a listen URL's address can be bound now.
func free(u string) bool {
	scheme, addr, _ := strings.Cut(u, "://")
	if strings.HasPrefix(scheme, "udp") {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// pusher serves a spec's upstreams (serve reports whether it could) and
// pushes traffic through the daemon.
type pusher struct {
	serve func(t *testing.T, plan *spec.Plan) bool
	push  func(t *testing.T, listen string)
}

// upstreamAt starts a TCP server at a group's first free endpoint.
func upstreamAt(t *testing.T, plan *spec.Plan, group string, handle func(c net.Conn)) bool {
	for _, ep := range plan.Group(group).Endpoints {
		l, err := net.Listen("tcp", ep)
		if err != nil {
			continue
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					handle(c)
				}()
			}
		}()
		return true
	}
	return false
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

var pushers = map[string]pusher{
	"tcp_relay": {
		serve: func(t *testing.T, plan *spec.Plan) bool { return upstreamAt(t, plan, "backends", echo) },
		push: func(t *testing.T, listen string) {
			require.Equal(t, "through tcp_relay", roundTrip(t, listen, "through tcp_relay"))
		},
	},
	"udp_relay": {
		serve: func(t *testing.T, plan *spec.Plan) bool {
			c, err := net.ListenPacket("udp", plan.Group("dns").Endpoints[0])
			if err != nil {
				return false // a resolver has the port
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := c.ReadFrom(buf)
					if err != nil {
						return
					}
					_, _ = c.WriteTo(buf[:n], from)
				}
			}()
			return true
		},
		push: func(t *testing.T, listen string) {
			c, err := net.Dial("udp", listen)
			require.NoError(t, err)
			defer c.Close()
			buf := make([]byte, 64)
			for try := 0; try < 5; try++ {
				_, _ = c.Write([]byte("dgram"))
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if n, err := c.Read(buf); err == nil {
					require.Equal(t, "dgram", string(buf[:n]))
					return
				}
			}
			t.Fatal("no datagram came back")
		},
	},
	"sni_router": {
		// The fallback group gets what is neither TLS nor SSH, after a
		// PROXY v2 header.
		serve: func(t *testing.T, plan *spec.Plan) bool {
			return upstreamAt(t, plan, "fallback", func(c net.Conn) {
				b, _ := io.ReadAll(c)
				if strings.HasPrefix(string(b), "\r\n\r\n\x00\r\nQUIT\n") && strings.HasSuffix(string(b), "plain bytes") {
					_, _ = c.Write([]byte("fallback with PROXY v2"))
				}
			})
		},
		push: func(t *testing.T, listen string) {
			require.Equal(t, "fallback with PROXY v2", roundTrip(t, listen, "plain bytes"))
		},
	},
	"redis_proxy": {
		// The proxy answers PING itself, shards or no shards.
		serve: func(*testing.T, *spec.Plan) bool { return true },
		push: func(t *testing.T, listen string) {
			c, err := net.Dial("tcp", listen)
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
			require.NoError(t, err)
			line, err := bufio.NewReader(c).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "+PONG\r\n", line)
		},
	},
	"web_proxy": {
		serve: func(t *testing.T, plan *spec.Plan) bool {
			return upstreamAt(t, plan, "web", func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"+req.URL.Path[:8])
				}
			})
		},
		push: func(t *testing.T, listen string) {
			resp, err := http.Get("http://" + listen + "/webpage/x")
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, "/webpage", string(b))
			require.Equal(t, "1.1 penstock", resp.Header.Get("Via"))
		},
	},
	"https_proxy": {
		serve: func(t *testing.T, plan *spec.Plan) bool {
			return upstreamAt(t, plan, "web", func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"+req.Header.Get("X-Forwarded-Proto"))
				}
			})
		},
		push: func(t *testing.T, listen string) {
			// The spec's certificate is for localhost, signed by its
			// testdata CA.
			pem, err := os.ReadFile("../../pipelines/httpsproxy/testdata/ca.crt")
			require.NoError(t, err)
			roots := x509.NewCertPool()
			require.True(t, roots.AppendCertsFromPEM(pem))
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
			defer cl.CloseIdleConnections()
			resp, err := cl.Get("https://" + listen + "/")
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, "https", string(b))
		},
	},
	"kv_proto": {
		// The Store handler is compiled into the daemon.
		serve: func(*testing.T, *spec.Plan) bool { return true },
		push: func(t *testing.T, listen string) {
			c, err := net.Dial("tcp", listen)
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			frame := func(p string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }
			_, err = c.Write(append(frame("s\x01kvalue"), frame("g\x01k")...))
			require.NoError(t, err)
			var got []string
			for range 2 {
				var hdr [4]byte
				_, err := io.ReadFull(c, hdr[:])
				require.NoError(t, err)
				b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
				_, err = io.ReadFull(c, b)
				require.NoError(t, err)
				got = append(got, string(b))
			}
			require.Equal(t, []string{"+", "+value"}, got)
		},
	},
}
