// Package storage keeps a chive profile: one directory holding an
// encrypted-at-rest SQLite database, the key file that unlocks it, a lock
// file and the Tor data directory.
//
// The path most callers want:
//
//	dir, _ := storage.ResolveDir(flagProfile, os.Getenv)
//	if need, _ := storage.NeedsPassphrase(dir); need { pass = prompt() }
//	db, err := storage.Open(ctx, dir, pass, storage.OpenOptions{})
//	defer db.Close()
//
// A random 256-bit database key, wrapped under an Argon2id-stretched
// passphrase in the key file (key.json), seals every secret column with
// XChaCha20-Poly1305. The row identity (table, column, row key) is the
// associated data, so a sealed value moved to another row or column fails to
// open. What stays visible is described in docs/threat-model.md.
//
// Every write the messenger needs to be atomic is one SQL transaction:
// [DB.QueueMessage] ("encrypt and queue"), [DB.ReceiveMessage] ("receive")
// and [DB.Acknowledge] ("acknowledge"). [DB.Update] runs several writes in one
// transaction when a caller needs more (for example accepting a contact,
// storing the new session and queueing the acceptance frame together).
package storage
