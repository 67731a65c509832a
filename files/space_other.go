//go:build !unix

package files

// freeBytes is unknown here: only a failed write says the disk is full.
func freeBytes(string) (int64, bool) { return 0, false }
