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
//
// # For the node
//
// Sending: read [DB.Session], encrypt with a fresh [NewMessageID] as the
// frame id, then [DB.QueueMessage] with the new state and the frame. The
// outbox item's id is the message id. Delivery loop: [DB.PendingContacts]
// to find work, [DB.Outbox] for a contact's frames in order, [DB.MarkSent]
// after writing one to the link, [DB.Acknowledge] (contact, id) when the
// peer acks it, [DB.Reschedule] after a failure, [DB.DropOutbox] to give up.
//
// Receiving: [DB.Seen] first (skip the decrypt of a replay), decrypt, then
// [DB.ReceiveMessage] with the new state; [ErrDuplicate] means a concurrent
// duplicate won and nothing changed. Non-message frames (receipts,
// acceptances) are deduplicated with [DB.MarkSeen].
//
// Frames without a message (contact request, acceptance, receipts):
// [DB.QueueFrame], or [Tx.QueueFrame] inside contacts.Book's Then
// callbacks so the contact change and its frame commit together.
//
// Reading: [DB.History] (newest first, cursor = Seq), [DB.Inbox] (oldest
// first after a Seq, for following), [DB.MarkRead] (returns the ids to put
// in a read receipt), [DB.ApplyReceipt] for the peer's receipts,
// [DB.Setting] / [DB.SetSetting] (e.g. [SettingReadReceipts]).
//
// Peer-driven calls take the contact id: a peer can only acknowledge,
// receipt or duplicate ids within its own conversation.
package storage
