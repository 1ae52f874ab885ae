package main

import (
	"net"
	"os"
	"strings"
)

// sdNotify sends state to the service manager when it runs the daemon as
// a Type=notify service (NOTIFY_SOCKET is set), and does nothing
// otherwise: "READY=1" once the listeners are bound, "STOPPING=1" as a
// drain starts. It is systemd's datagram protocol (sd_notify(3)), a few
// lines rather than a dependency. It reports whether a message went out.
func sdNotify(state string) bool {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err == nil
}
