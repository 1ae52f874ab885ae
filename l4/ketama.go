package l4

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Ketama places keys on servers exactly as twemproxy (nutcracker 0.5.0)
// does for a pool with
//
//	hash: fnv1a_64
//	distribution: ketama
//
// so a Redis or memcached deployment can move from twemproxy to penstock
// without moving data. Pick maps a key to the server twemproxy would send it
// to; HashKey applies the pool's hash_tag first.
//
// What matches twemproxy: the server names on the continuum (the name after
// the weight in a server line; without one, host:port as written, the host
// alone when the port is 11211, or "/path:" for a unix socket), truncated
// to 272 bytes with the point number; weights (points in proportion, computed in float32 as
// twemproxy does); 160 points per server of average weight, four to an MD5
// digest; which of two points with equal values wins; the search with
// wrap-around; an empty key hashing to 0; fnv1a_64 with twemproxy's 32-bit
// truncation (see FNV1a64 for its one platform dependence); and hash_tag.
//
// Modula and Random are twemproxy's other two distributions. What is not
// supported: other hash functions, and auto_eject_hosts by itself. When twemproxy ejects a server
// it rebuilds its continuum from the live servers alone, which is the
// continuum NewKetama builds from the live subset; a caller that ejects
// servers rebuilds with NewKetama over the live ones and maps the returned
// index back to its full list.
//
// A Ketama is immutable and safe from any goroutine.
type Ketama struct {
	// values holds the continuum's points in ascending order.
	values []uint32
	// owners[i] is the index of the server that owns values[i].
	owners []int32
	// nservers is the number of servers the continuum was built from.
	nservers int
}

// KetamaServer is one server of a twemproxy pool, as its server line
// "Addr:Weight Name" (or "Addr:Weight" without a name) gives it.
type KetamaServer struct {
	// Name is the optional name after the weight. When set, it alone
	// places the server on the continuum, so servers keep their keys
	// when their addresses change.
	Name string
	// Addr is the address as the server line writes it: host:port, or
	// /path (also accepted as unix:/path) for a unix socket. Without a
	// Name, it names the server on the continuum as text, unresolved.
	Addr string
	// Weight is the server's share of the continuum relative to the
	// others; it must be at least 1.
	Weight int
}

const (
	// ketamaPointsPerServer is the points a server of average weight
	// gets (KETAMA_POINTS_PER_SERVER in twemproxy's nc_ketama.c).
	ketamaPointsPerServer = 160
	// ketamaPointsPerHash is the points taken from one MD5 digest.
	ketamaPointsPerHash = 4
	// ketamaMaxPointName is the longest point name twemproxy hashes: it
	// formats names into a buffer of KETAMA_MAX_HOSTLEN (273) bytes, which
	// truncates them to 272.
	ketamaMaxPointName = 272
	// ketamaDefaultPort is the port left out of a server's name, for
	// compatibility with libmemcached (CONF_DEFAULT_KETAMA_PORT).
	ketamaDefaultPort = 11211
)

// NewKetama builds the continuum twemproxy builds for servers. Pick
// returns indexes into servers; their order does not change the placement.
// Like twemproxy, NewKetama refuses two servers with the same name.
func NewKetama(servers []KetamaServer) (*Ketama, error) {
	// twemproxy sorts its servers by name, shorter names first and then
	// byte by byte (conf_validate_server), before it makes their points;
	// that order decides which of two points with the same value wins.
	// Bounding the total weight also bounds the server count to fit owners.
	order, names, err := twemproxyOrder("ketama", servers, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	var total uint64
	for _, s := range servers {
		total += uint64(s.Weight)
	}

	type point struct {
		value uint32
		owner int32
	}
	points := make([]point, 0, ketamaPointsPerServer*len(servers))
	var pointName []byte
	for _, i := range order {
		n := ketamaServerPoints(servers[i].Weight, uint32(total), len(servers))
		for p := range n / ketamaPointsPerHash {
			pointName = strconv.AppendUint(append(append(pointName[:0], names[i]...), '-'), uint64(p), 10)
			if len(pointName) > ketamaMaxPointName {
				pointName = pointName[:ketamaMaxPointName]
			}
			digest := md5.Sum(pointName)
			for x := range ketamaPointsPerHash {
				points = append(points, point{
					value: binary.LittleEndian.Uint32(digest[4*x:]),
					owner: int32(i),
				})
			}
		}
	}
	// twemproxy sorts the points with glibc's qsort, a merge sort that
	// keeps points with equal values in the order they were made; the
	// search then lands on the first of them.
	slices.SortStableFunc(points, func(a, b point) int { return cmp.Compare(a.value, b.value) })

	k := &Ketama{
		values:   make([]uint32, len(points)),
		owners:   make([]int32, len(points)),
		nservers: len(servers),
	}
	for i, p := range points {
		k.values[i] = p.value
		k.owners[i] = p.owner
	}
	return k, nil
}

// ketamaServerPoints returns how many points a server of weight gets out
// of total among n servers. twemproxy computes it in float32 (with a
// double-precision nudge before the floor); the explicit conversions keep
// every step rounded to float32 so the counts agree with it exactly.
func ketamaServerPoints(weight int, total uint32, n int) int {
	pct := float32(weight) / float32(total)
	perHash := float32(float32(pct*ketamaPointsPerServer)/ketamaPointsPerHash) * float32(n)
	hashes := math.Floor(float64(float32(float64(perHash) + 0.0000000001)))
	return int(hashes) * ketamaPointsPerHash
}

// continuumName returns the name twemproxy hashes to place s on the
// continuum (conf_add_server in nc_conf.c).
func (s KetamaServer) continuumName() (string, error) {
	if s.Name != "" {
		return s.Name, nil
	}
	addr := strings.TrimPrefix(s.Addr, "unix:")
	if strings.HasPrefix(addr, "/") {
		// twemproxy takes the path and the colon before the weight.
		return addr + ":", nil
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", fmt.Errorf("address %q is not host:port", s.Addr)
	}
	port, err := strconv.ParseUint(addr[i+1:], 10, 16)
	if err != nil || port == 0 {
		return "", fmt.Errorf("address %q has an invalid port", s.Addr)
	}
	if port == ketamaDefaultPort {
		return addr[:i], nil
	}
	return addr, nil
}

// Pick returns the index of the server twemproxy sends key to. key is the
// whole key; for a pool with a hash_tag, pass HashKey(key, tag). Pick
// allocates nothing and is safe from any goroutine.
func (k *Ketama) Pick(key []byte) int {
	if k.nservers == 1 {
		// twemproxy skips hashing for a pool of one server.
		return 0
	}
	// twemproxy hashes an empty key to 0 rather than hashing it.
	var hash uint32
	if len(key) > 0 {
		hash = FNV1a64(key)
	}
	i, _ := slices.BinarySearch(k.values, hash)
	if i == len(k.values) {
		i = 0
	}
	return int(k.owners[i])
}

// FNV1a64 returns twemproxy's fnv1a_64 hash of key (hash_fnv1a_64 in
// nc_fnv.c). Despite the name it is 32-bit: it starts from the 64-bit FNV
// offset basis and multiplies by the 64-bit FNV prime, both truncated to
// their low 32 bits, so it is neither FNV-1a/64 nor FNV-1a/32.
//
// It also XORs each byte in as a C char widened to 32 bits, which is signed
// on x86, so a byte of 0x80 or more is sign-extended first. This matches
// twemproxy built for amd64 or i386; builds for platforms where char is
// unsigned (arm64, ppc64el, s390x) place keys with such bytes differently.
func FNV1a64(key []byte) uint32 {
	const (
		offset = uint32(0xcbf29ce484222325 & math.MaxUint32)
		prime  = uint32(0x100000001b3 & math.MaxUint32)
	)
	hash := offset
	for _, b := range key {
		hash ^= uint32(int8(b))
		hash *= prime
	}
	return hash
}

// HashKey returns the part of key that twemproxy hashes for a pool with
// hash_tag tag: the bytes between the first tag[0] in key and the next
// tag[1] after it, when both are there and the bytes between are not
// empty, and else the whole key. It returns key itself when tag is empty
// (no hash_tag). tag is otherwise two bytes, as twemproxy requires of a
// hash_tag; HashKey panics on any other length. The result aliases key.
func HashKey(key []byte, tag string) []byte {
	switch len(tag) {
	case 0:
		return key
	case 2:
	default:
		panic(fmt.Sprintf("penstock/l4: hash tag %q is not two bytes", tag))
	}
	start := bytes.IndexByte(key, tag[0])
	if start < 0 {
		return key
	}
	inner := key[start+1:]
	end := bytes.IndexByte(inner, tag[1])
	if end < 1 {
		return key
	}
	return inner[:end]
}
