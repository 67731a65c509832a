// Package files is chive's file transfer engine: the state machine of
// every transfer (offers, accept, pause, cancel, the receiver's requests
// for missing chunks, resume after a restart), the sealed chunk store in
// the profile, and the policy (size limit, automatic download, per-contact
// quota, names and media types from peers).
//
// It does no link I/O: the node hands it the frames peers send
// (OnRequest, OnChunk, OnStop, OnEnd), asks it for frames to send
// (LinkUp, NextChunk) and queues the reliable ones (FileEnd) in its
// outbox inside the transactions files opens for it (the "then"
// callbacks). Transfer metadata lives in storage's files table, next to
// the message carrying the offer, so deleting a conversation deletes its
// files.
//
// # Chunks at rest
//
// A file is cut into chunks of wire.ChunkSize bytes, each sealed under
// the file key (XChaCha20-Poly1305, random nonce, the file id, chunk index
// and last-chunk flag as associated data) exactly as it travels: the
// sender seals while importing the file, the receiver stores what it
// received after checking it. Chunk i of a file sits at offset
// i × wire.MaxChunkData of one file under <profile>/files/, named at
// random. The key is only in the sealed database row, so deleting the row
// shreds the file even before its chunk file is unlinked. Nothing is
// decrypted until the user saves or opens the file (Save, OpenCopy).
//
// Why a directory of chunk files and not blobs in SQLite: see
// BenchmarkChunkStore. Writing chunks into a file and syncing once per
// checkpoint was 3× faster than inserting them through the WAL (which
// writes every byte twice), reading them back 20× faster, and deleting a
// file 20× faster (secure_delete rewrites every freed page, and the
// database does not shrink); a transfer resumes from what is on disk
// because every slot authenticates itself (a torn or missing chunk fails
// to open and is asked for again).
package files
