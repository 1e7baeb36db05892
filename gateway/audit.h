/*
 * audit.h - audit leaves in SQLite (DESIGN.md §8), appended in the same transaction as
 * the change they record. Each leaf is an encoded AuditEntry; its hash is the RFC 9162
 * leaf hash SHA-256(0x00 || leaf). The entry is completed here with the index of the
 * previous leaf of the same case, so that a case's trail is a chain.
 */
#ifndef PU_AUDIT_H
#define PU_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "audit.pb-c.h"

int audit_schema(sqlite3 *db);
/* Append the encoded entry; *index is its leaf index (0-based). Inside a transaction. */
int audit_append(sqlite3 *db, const uint8_t *entry, size_t len, uint64_t *index);
/* Encode an entry built by the caller (malloc'd bytes). */
int audit_encode(const Puente__AuditEntry *e, uint8_t **out, size_t *len);
void audit_leaf_hash(uint8_t out[32], const uint8_t *leaf, size_t len);

#endif
