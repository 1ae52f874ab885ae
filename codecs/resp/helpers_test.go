package resp

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }

func strconvQuote(b []byte) string { return strconv.Quote(string(b)) }
