/*
 * test_merkle.c - THREATS.md groups 10, 11 and 19 at library level: the audit log's Merkle
 * tree (PROTOCOL.md §8.1). Known answers from transparency-dev/merkle; every inclusion and
 * consistency proof of every small tree generated and verified; and each tampering (another
 * leaf, another index, a hash too many or too few, a shrinking tree, another root) refused
 * with its exact code, the length ones before any hashing.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "crypto.h"
#include "merkle.h"
#include "pu_err.h"

/* Compare names, so a failure reads "PU_ERR_PROOF_ROOT" != "PU_ERR_PROOF_LENGTH". */
#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

#define H MERKLE_HASH_LEN
/* Every proof of every tree up to this size is generated, verified and tampered with. */
#define SMALL_TREES 64
#define MANY_LEAVES 300

/*
 * transparency-dev/merkle testonly/constants.go (commit 417fb0c): LeafInputs(),
 * RootHashes() for sizes 0..8, NodeHashes() by level, and CompactTrees() as the
 * (level, index) of each node of the frontier after each size.
 */
static const char *const leaf_inputs_hex[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const root_hex[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
static const char *const node_hex[4][8] = {
	{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
		"07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
		"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		"46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
	}, {
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	}, {
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	}, {
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	},
};
struct node_at {
	unsigned level, index;
};
static const struct node_at compact_trees[9][3] = {
	{ { 0, 0 } },	/* empty: no node (n_nodes says so) */
	{ { 0, 0 } },
	{ { 1, 0 } },
	{ { 1, 0 }, { 0, 2 } },
	{ { 2, 0 } },
	{ { 2, 0 }, { 0, 4 } },
	{ { 2, 0 }, { 1, 2 } },
	{ { 2, 0 }, { 1, 2 }, { 0, 6 } },
	{ { 3, 0 } },
};

/*
 * transparency-dev/merkle proof/verify_test.go at commit 022f84c (the last with these
 * tables, inherited from RFC 6962's reference code): proofs over the same 8 leaves. The
 * Go table numbers leaves from 1; here they are 0-based indexes.
 */
struct known_proof {
	uint64_t a, b;		/* index and size, or size1 and size2 */
	size_t n;
	const char *hex[3];
};
static const struct known_proof known_inclusion[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, {
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, {
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};
static const struct known_proof known_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, {
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, {
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, {
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

/*
 * Every probe of transparency-dev/merkle testdata/inclusion and testdata/consistency
 * (commit 417fb0c), named by its file; the hashes are numbered in order of first use.
 * The Go probes also try hashes of other lengths, which cannot reach this API (its
 * hashes are fixed 32-byte arrays): they are zero-padded, which keeps what each probe
 * tests, except inclusion/single-entry/empty-root-and-leaf, which tests only the length
 * and is left out. The expected codes were worked out with RFC 9162's own verification
 * algorithms (§2.1.3.2, §2.1.4.2), independently of merkle.c, and agree with each
 * probe's wantErr.
 */
struct td_inclusion {
	const char *name;
	uint64_t index, size;
	unsigned leaf, root;
	size_t n;
	unsigned proof[5];
	int want;
};
struct td_consistency {
	const char *name;
	uint64_t size1, size2;
	unsigned root1, root2;
	size_t n;
	unsigned proof[5];
	int want;
};
/* Zero-padded stand-ins: 2 (0 bytes), 4 (9 bytes), 29 (9 bytes), 39 (12 bytes), 40 (12 bytes). */
static const char *const td_hash[] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",	/* 0 */
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",	/* 1 */
	"0000000000000000000000000000000000000000000000000000000000000000",	/* 2 */
	"abacaba000000000000000000000000000000000000000000060061e00123456",	/* 3 */
	"57726f6e674c6561660000000000000000000000000000000000000000000000",	/* 4 */
	"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",	/* 5 */
	"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",	/* 6 */
	"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",	/* 7 */
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",	/* 8 */
	"9ea296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",	/* 9 */
	"57083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",	/* 10 */
	"6347aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",	/* 11 */
	"4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",	/* 12 */
	"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",	/* 13 */
	"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",	/* 14 */
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",	/* 15 */
	"b41a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",	/* 16 */
	"c2854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",	/* 17 */
	"db7ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",	/* 18 */
	"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",	/* 19 */
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",	/* 20 */
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",	/* 21 */
	"f2c54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",	/* 22 */
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",	/* 23 */
	"66340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",	/* 24 */
	"0d3aed023148ffd2a259fbd0cdc7fb3cf975658760d3775b82af6f90aacc2dfc",	/* 25 */
	"86a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",	/* 26 */
	"4f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",	/* 27 */
	"7b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",	/* 28 */
	"57726f6e67526f6f740000000000000000000000000000000000000000000000",	/* 29 */
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",	/* 30 */
	"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",	/* 31 */
	"1ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",	/* 32 */
	"da854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",	/* 33 */
	"c37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",	/* 34 */
	"ac1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",	/* 35 */
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",	/* 36 */
	"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",	/* 37 */
	"a08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",	/* 38 */
	"646f6e2774206361726520320000000000000000000000000000000000000000",	/* 39 */
	"646f6e2774206361726520310000000000000000000000000000000000000000",	/* 40 */
};
static const struct td_inclusion td_inclusion[] = {
	{ "0/empty-root", 0, 1, 0, 1, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "0/happy-path", 0, 1, 0, 0, 0, { 0 }, PU_OK },
	{ "0/leafIdx-XOR-@2", 2, 1, 0, 0, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "0/leafIdx-plus-@1", 1, 1, 0, 0, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "0/leafIdx-sub-@1", UINT64_MAX, 1, 0, 0, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "0/preceding-garbage", 0, 1, 0, 0, 1, { 2 }, PU_ERR_PROOF_LENGTH },
	{ "0/preceding-root", 0, 1, 0, 0, 1, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "0/random-root", 0, 1, 0, 3, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "0/trailing-garbage", 0, 1, 0, 0, 1, { 2 }, PU_ERR_PROOF_LENGTH },
	{ "0/trailing-root", 0, 1, 0, 0, 1, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "0/treeSize-div-@2", 0, 0, 0, 0, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "0/treeSize-mul-@2", 0, 2, 0, 0, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "0/wrong-leaf", 0, 1, 4, 0, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "1/empty-root", 0, 8, 0, 1, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/happy-path", 0, 8, 0, 8, 3, { 5, 6, 7 }, PU_OK },
	{ "1/inserted-component", 0, 8, 0, 8, 4, { 5, 3, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/leafIdx-XOR-@2", 2, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/leafIdx-plus-@1", 1, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/leafIdx-sub-@1", UINT64_MAX, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_INDEX },
	{ "1/modified-proof[0]-bit-@3", 0, 8, 0, 8, 3, { 9, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/modified-proof[1]-bit-@3", 0, 8, 0, 8, 3, { 5, 10, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/modified-proof[2]-bit-@3", 0, 8, 0, 8, 3, { 5, 6, 11 }, PU_ERR_PROOF_ROOT },
	{ "1/preceding-garbage", 0, 8, 0, 8, 4, { 2, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/preceding-root", 0, 8, 0, 8, 4, { 8, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/random-root", 0, 8, 0, 3, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/removed-component", 0, 8, 0, 8, 2, { 5, 6 }, PU_ERR_PROOF_LENGTH },
	{ "1/trailing-garbage", 0, 8, 0, 8, 4, { 5, 6, 7, 2 }, PU_ERR_PROOF_LENGTH },
	{ "1/trailing-root", 0, 8, 0, 8, 4, { 5, 6, 7, 8 }, PU_ERR_PROOF_LENGTH },
	{ "1/treeSize-div-@2", 0, 4, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/treeSize-mul-@2", 0, 16, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/wrong-leaf", 0, 8, 4, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "2/empty-root", 5, 8, 12, 1, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/happy-path", 5, 8, 12, 8, 3, { 13, 14, 15 }, PU_OK },
	{ "2/inserted-component", 5, 8, 12, 8, 4, { 13, 3, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/leafIdx-XOR-@2", 7, 8, 12, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/leafIdx-plus-@1", 6, 8, 12, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/leafIdx-sub-@1", 4, 8, 12, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/modified-proof[0]-bit-@3", 5, 8, 12, 8, 3, { 16, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/modified-proof[1]-bit-@3", 5, 8, 12, 8, 3, { 13, 17, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/modified-proof[2]-bit-@3", 5, 8, 12, 8, 3, { 13, 14, 18 }, PU_ERR_PROOF_ROOT },
	{ "2/preceding-garbage", 5, 8, 12, 8, 4, { 2, 13, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/preceding-root", 5, 8, 12, 8, 4, { 8, 13, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/random-root", 5, 8, 12, 3, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/removed-component", 5, 8, 12, 8, 2, { 13, 14 }, PU_ERR_PROOF_LENGTH },
	{ "2/trailing-garbage", 5, 8, 12, 8, 4, { 13, 14, 15, 2 }, PU_ERR_PROOF_LENGTH },
	{ "2/trailing-root", 5, 8, 12, 8, 4, { 13, 14, 15, 8 }, PU_ERR_PROOF_LENGTH },
	{ "2/treeSize-div-@2", 5, 4, 12, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_INDEX },
	{ "2/treeSize-mul-@2", 5, 16, 12, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/wrong-leaf", 5, 8, 4, 8, 3, { 13, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "3/empty-root", 2, 3, 19, 1, 1, { 20 }, PU_ERR_PROOF_ROOT },
	{ "3/happy-path", 2, 3, 19, 21, 1, { 20 }, PU_OK },
	{ "3/leafIdx-XOR-@2", 0, 3, 19, 21, 1, { 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/leafIdx-plus-@1", 3, 3, 19, 21, 1, { 20 }, PU_ERR_PROOF_INDEX },
	{ "3/leafIdx-sub-@1", 1, 3, 19, 21, 1, { 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/modified-proof[0]-bit-@3", 2, 3, 19, 21, 1, { 22 }, PU_ERR_PROOF_ROOT },
	{ "3/preceding-garbage", 2, 3, 19, 21, 2, { 2, 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/preceding-root", 2, 3, 19, 21, 2, { 21, 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/random-root", 2, 3, 19, 3, 1, { 20 }, PU_ERR_PROOF_ROOT },
	{ "3/removed-component", 2, 3, 19, 21, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "3/trailing-garbage", 2, 3, 19, 21, 2, { 20, 2 }, PU_ERR_PROOF_LENGTH },
	{ "3/trailing-root", 2, 3, 19, 21, 2, { 20, 21 }, PU_ERR_PROOF_LENGTH },
	{ "3/treeSize-div-@2", 2, 1, 19, 21, 1, { 20 }, PU_ERR_PROOF_INDEX },
	{ "3/treeSize-mul-@2", 2, 6, 19, 21, 1, { 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/wrong-leaf", 2, 3, 4, 21, 1, { 20 }, PU_ERR_PROOF_ROOT },
	{ "4/empty-root", 1, 5, 5, 1, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/happy-path", 1, 5, 5, 23, 3, { 0, 6, 13 }, PU_OK },
	{ "4/inserted-component", 1, 5, 5, 23, 4, { 0, 3, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "4/leafIdx-XOR-@2", 3, 5, 5, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/leafIdx-plus-@1", 2, 5, 5, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/leafIdx-sub-@1", 0, 5, 5, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/modified-proof[0]-bit-@3", 1, 5, 5, 23, 3, { 24, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/modified-proof[1]-bit-@3", 1, 5, 5, 23, 3, { 0, 10, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/modified-proof[2]-bit-@3", 1, 5, 5, 23, 3, { 0, 6, 16 }, PU_ERR_PROOF_ROOT },
	{ "4/preceding-garbage", 1, 5, 5, 23, 4, { 2, 0, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "4/preceding-root", 1, 5, 5, 23, 4, { 23, 0, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "4/random-root", 1, 5, 5, 3, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/removed-component", 1, 5, 5, 23, 2, { 0, 6 }, PU_ERR_PROOF_LENGTH },
	{ "4/trailing-garbage", 1, 5, 5, 23, 4, { 0, 6, 13, 2 }, PU_ERR_PROOF_LENGTH },
	{ "4/trailing-root", 1, 5, 5, 23, 4, { 0, 6, 13, 23 }, PU_ERR_PROOF_LENGTH },
	{ "4/treeSize-div-@2", 1, 2, 5, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "4/treeSize-mul-@2", 1, 10, 5, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "4/wrong-leaf", 1, 5, 4, 23, 3, { 0, 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "additional/0/empty-root-and-random-leaf", 0, 0, 3, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/0/empty-root", 0, 0, 2, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/0/random-leaf", 0, 0, 3, 2, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/1/empty-root-and-random-leaf", 0, 1, 3, 1, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "additional/1/empty-root", 0, 1, 2, 1, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "additional/1/random-leaf", 0, 1, 3, 2, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "additional/2/empty-root-and-random-leaf", 1, 0, 3, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/2/empty-root", 1, 0, 2, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/2/random-leaf", 1, 0, 3, 2, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/3/empty-root-and-random-leaf", 2, 1, 3, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/3/empty-root", 2, 1, 2, 1, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "additional/3/random-leaf", 2, 1, 3, 2, 0, { 0 }, PU_ERR_PROOF_INDEX },
	{ "single-entry/empty-leaf", 0, 1, 2, 25, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "single-entry/empty-root", 0, 1, 25, 2, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "single-entry/matching-root-and-leaf", 0, 1, 25, 25, 0, { 0 }, PU_OK },
};
static const struct td_consistency td_consistency[] = {
	{ "0/happy-path", 1, 1, 0, 0, 0, { 0 }, PU_OK },
	{ "1/empty-proof", 1, 8, 0, 8, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "1/happy-path", 1, 8, 0, 8, 3, { 5, 6, 7 }, PU_OK },
	{ "1/modified-proof@0-bit-@4", 1, 8, 0, 8, 3, { 26, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/modified-proof@1-bit-@4", 1, 8, 0, 8, 3, { 5, 27, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/modified-proof@2-bit-@4", 1, 8, 0, 8, 3, { 5, 6, 28 }, PU_ERR_PROOF_ROOT },
	{ "1/preceding-garbage", 1, 8, 0, 8, 4, { 2, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/preceding-proof-@0", 1, 8, 0, 8, 4, { 5, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/preceding-root1", 1, 8, 0, 8, 4, { 0, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/preceding-root2", 1, 8, 0, 8, 4, { 8, 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/size1-XOR-@2", 3, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/size1-plus-@1", 2, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/size1-sub-@1", 0, 8, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "1/size2-div-@2", 1, 4, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/size2-mul-@2", 1, 16, 0, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_LENGTH },
	{ "1/swapped-roots", 1, 8, 8, 0, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/trailing-garbage", 1, 8, 0, 8, 4, { 5, 6, 7, 2 }, PU_ERR_PROOF_LENGTH },
	{ "1/trailing-root1", 1, 8, 0, 8, 4, { 5, 6, 7, 0 }, PU_ERR_PROOF_LENGTH },
	{ "1/trailing-root2", 1, 8, 0, 8, 4, { 5, 6, 7, 8 }, PU_ERR_PROOF_LENGTH },
	{ "1/truncated-proof", 1, 8, 0, 8, 2, { 5, 6 }, PU_ERR_PROOF_LENGTH },
	{ "1/wrong-root1", 1, 8, 29, 8, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "1/wrong-root2", 1, 8, 0, 29, 3, { 5, 6, 7 }, PU_ERR_PROOF_ROOT },
	{ "2/empty-proof", 6, 8, 30, 8, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "2/happy-path", 6, 8, 30, 8, 3, { 31, 14, 15 }, PU_OK },
	{ "2/modified-proof@0-bit-@4", 6, 8, 30, 8, 3, { 32, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/modified-proof@1-bit-@4", 6, 8, 30, 8, 3, { 31, 33, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/modified-proof@2-bit-@4", 6, 8, 30, 8, 3, { 31, 14, 34 }, PU_ERR_PROOF_ROOT },
	{ "2/preceding-garbage", 6, 8, 30, 8, 4, { 2, 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/preceding-proof-@0", 6, 8, 30, 8, 4, { 31, 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/preceding-root1", 6, 8, 30, 8, 4, { 30, 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/preceding-root2", 6, 8, 30, 8, 4, { 8, 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/size1-XOR-@2", 4, 8, 30, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/size1-plus-@1", 7, 8, 30, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/size1-sub-@1", 5, 8, 30, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/size2-div-@2", 6, 4, 30, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_SHRINK },
	{ "2/size2-mul-@2", 6, 16, 30, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_LENGTH },
	{ "2/swapped-roots", 6, 8, 8, 30, 3, { 31, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/trailing-garbage", 6, 8, 30, 8, 4, { 31, 14, 15, 2 }, PU_ERR_PROOF_LENGTH },
	{ "2/trailing-root1", 6, 8, 30, 8, 4, { 31, 14, 15, 30 }, PU_ERR_PROOF_LENGTH },
	{ "2/trailing-root2", 6, 8, 30, 8, 4, { 31, 14, 15, 8 }, PU_ERR_PROOF_LENGTH },
	{ "2/truncated-proof", 6, 8, 30, 8, 2, { 31, 14 }, PU_ERR_PROOF_LENGTH },
	{ "2/wrong-root1", 6, 8, 29, 8, 3, { 31, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "2/wrong-root2", 6, 8, 30, 29, 3, { 31, 14, 15 }, PU_ERR_PROOF_ROOT },
	{ "3/empty-proof", 2, 5, 20, 23, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "3/happy-path", 2, 5, 20, 23, 2, { 6, 13 }, PU_OK },
	{ "3/modified-proof@0-bit-@4", 2, 5, 20, 23, 2, { 27, 13 }, PU_ERR_PROOF_ROOT },
	{ "3/modified-proof@1-bit-@4", 2, 5, 20, 23, 2, { 6, 35 }, PU_ERR_PROOF_ROOT },
	{ "3/preceding-garbage", 2, 5, 20, 23, 3, { 2, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/preceding-proof-@0", 2, 5, 20, 23, 3, { 6, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/preceding-root1", 2, 5, 20, 23, 3, { 20, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/preceding-root2", 2, 5, 20, 23, 3, { 23, 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/size1-XOR-@2", 0, 5, 20, 23, 2, { 6, 13 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "3/size1-plus-@1", 3, 5, 20, 23, 2, { 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/size1-sub-@1", 1, 5, 20, 23, 2, { 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/size2-div-@2", 2, 2, 20, 23, 2, { 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/size2-mul-@2", 2, 10, 20, 23, 2, { 6, 13 }, PU_ERR_PROOF_LENGTH },
	{ "3/swapped-roots", 2, 5, 23, 20, 2, { 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "3/trailing-garbage", 2, 5, 20, 23, 3, { 6, 13, 2 }, PU_ERR_PROOF_LENGTH },
	{ "3/trailing-root1", 2, 5, 20, 23, 3, { 6, 13, 20 }, PU_ERR_PROOF_LENGTH },
	{ "3/trailing-root2", 2, 5, 20, 23, 3, { 6, 13, 23 }, PU_ERR_PROOF_LENGTH },
	{ "3/truncated-proof", 2, 5, 20, 23, 1, { 6 }, PU_ERR_PROOF_LENGTH },
	{ "3/wrong-root1", 2, 5, 29, 23, 2, { 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "3/wrong-root2", 2, 5, 20, 29, 2, { 6, 13 }, PU_ERR_PROOF_ROOT },
	{ "4/empty-proof", 6, 7, 30, 36, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "4/happy-path", 6, 7, 30, 36, 3, { 31, 37, 15 }, PU_OK },
	{ "4/modified-proof@0-bit-@4", 6, 7, 30, 36, 3, { 32, 37, 15 }, PU_ERR_PROOF_ROOT },
	{ "4/modified-proof@1-bit-@4", 6, 7, 30, 36, 3, { 31, 38, 15 }, PU_ERR_PROOF_ROOT },
	{ "4/modified-proof@2-bit-@4", 6, 7, 30, 36, 3, { 31, 37, 34 }, PU_ERR_PROOF_ROOT },
	{ "4/preceding-garbage", 6, 7, 30, 36, 4, { 2, 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/preceding-proof-@0", 6, 7, 30, 36, 4, { 31, 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/preceding-root1", 6, 7, 30, 36, 4, { 30, 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/preceding-root2", 6, 7, 30, 36, 4, { 36, 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/size1-XOR-@2", 4, 7, 30, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/size1-plus-@1", 7, 7, 30, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/size1-sub-@1", 5, 7, 30, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/size2-div-@2", 6, 3, 30, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_SHRINK },
	{ "4/size2-mul-@2", 6, 14, 30, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_LENGTH },
	{ "4/swapped-roots", 6, 7, 36, 30, 3, { 31, 37, 15 }, PU_ERR_PROOF_ROOT },
	{ "4/trailing-garbage", 6, 7, 30, 36, 4, { 31, 37, 15, 2 }, PU_ERR_PROOF_LENGTH },
	{ "4/trailing-root1", 6, 7, 30, 36, 4, { 31, 37, 15, 30 }, PU_ERR_PROOF_LENGTH },
	{ "4/trailing-root2", 6, 7, 30, 36, 4, { 31, 37, 15, 36 }, PU_ERR_PROOF_LENGTH },
	{ "4/truncated-proof", 6, 7, 30, 36, 2, { 31, 37 }, PU_ERR_PROOF_LENGTH },
	{ "4/wrong-root1", 6, 7, 29, 36, 3, { 31, 37, 15 }, PU_ERR_PROOF_ROOT },
	{ "4/wrong-root2", 6, 7, 30, 29, 3, { 31, 37, 15 }, PU_ERR_PROOF_ROOT },
	{ "additional/consistency-check-on-empty-tree-size1-is-zero-is-useless",
	    0, 1, 1, 1, 1, { 1 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/roots-do-not-match-and-sizes-are-zero",
	    0, 0, 1, 39, 0, { 0 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/roots-do-not-not-match-and-sizes-are-one",
	    1, 1, 1, 39, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "additional/size1-is-greater-than-size2-again",
	    2, 1, 40, 39, 0, { 0 }, PU_ERR_PROOF_SHRINK },
	{ "additional/size1-is-greater-than-size2", 1, 0, 40, 39, 0, { 0 }, PU_ERR_PROOF_SHRINK },
	{ "additional/size1-is-zero-and-does-not-equal-size2",
	    0, 1, 40, 39, 0, { 0 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/size1-is-zero-and-size2-is-not-zero",
	    0, 1, 1, 39, 0, { 0 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/sizes-are-equal-one-and-proof-is-empty", 1, 1, 39, 39, 0, { 0 }, PU_OK },
	{ "additional/sizes-are-equal-one-but-roots-are-not",
	    1, 1, 40, 39, 0, { 0 }, PU_ERR_PROOF_ROOT },
	{ "additional/sizes-are-equal-zero-and-proof-is-empty",
	    0, 0, 40, 40, 0, { 0 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/sizes-are-equal-zero-but-roots-are-not",
	    0, 0, 40, 39, 0, { 0 }, PU_ERR_PROOF_EMPTY_TREE },
	{ "additional/sizes-do-not-watch-and-proof-is-empty",
	    1, 2, 40, 39, 0, { 0 }, PU_ERR_PROOF_LENGTH },
	{ "additional/sizes-match-but-proof-is-not-empty-and-sizes-are-one",
	    1, 1, 1, 1, 1, { 1 }, PU_ERR_PROOF_LENGTH },
	{ "additional/sizes-match-but-proof-is-not-empty-and-sizes-are-zero",
	    0, 0, 1, 1, 1, { 1 }, PU_ERR_PROOF_EMPTY_TREE },
};

static void
unhex(uint8_t *out, size_t len, const char *hex)
{
	size_t got;

	if (sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 || got != len)
		fail_msg("bad hex constant %s", hex);
}

static void
unhex_hash(uint8_t out[H], const char *hex)
{
	unhex(out, H, hex);
}

/* Leaves 0..7 are LeafInputs(); later ones (for bigger trees) are u64be(index). */
static void
leaf_hash_at(uint64_t i, uint8_t out[H])
{
	uint8_t in[16];
	size_t len;

	if (i < 8) {
		len = strlen(leaf_inputs_hex[i]) / 2;
		unhex(in, len, leaf_inputs_hex[i]);
	} else {
		len = 8;
		for (unsigned k = 0; k < 8; k++)
			in[k] = (uint8_t)(i >> (56 - 8 * k));
	}
	merkle_leaf_hash(out, in, len);
}

/* The leaf store a generator reads, as the gateway's database would serve it. */
struct store {
	uint8_t hashes[MANY_LEAVES * H];
	uint64_t limit;		/* the tree size the current call asked about */
	uint64_t fail_at;	/* this leaf's read fails, as a database error would */
	uint64_t reads;
};

static struct store store;

static int
store_leaf(void *arg, uint64_t index, uint8_t out[H])
{
	struct store *s = arg;

	if (index >= s->limit)
		fail_msg("generator read leaf %" PRIu64 " of a %" PRIu64 "-leaf tree", index,
		    s->limit);
	s->reads++;
	if (index == s->fail_at)
		return PU_ERR_STORE;
	memcpy(out, s->hashes + index * H, H);
	return PU_OK;
}

static int
store_setup(void **state)
{
	(void)state;
	for (uint64_t i = 0; i < MANY_LEAVES; i++)
		leaf_hash_at(i, store.hashes + i * H);
	store.fail_at = UINT64_MAX;
	return 0;
}

static const uint8_t *
leaf(uint64_t i)
{
	return store.hashes + i * H;
}

static void
root_of(uint64_t n, uint8_t out[H])
{
	merkle_root(out, store.hashes, n);
}

static int
gen_inclusion(uint64_t index, uint64_t size, uint8_t *proof, size_t *n)
{
	store.limit = size;
	return merkle_inclusion_proof(store_leaf, &store, index, size, proof, n);
}

static int
gen_consistency(uint64_t size1, uint64_t size2, uint8_t *proof, size_t *n)
{
	store.limit = size2;
	return merkle_consistency_proof(store_leaf, &store, size1, size2, proof, n);
}

/* ---- hashes and roots ------------------------------------------------------------------ */

static void
leaf_and_node_hashes_are_rfc6962(void **state)
{
	uint8_t got[H], want[H];

	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		unhex_hash(want, node_hex[0][i]);
		assert_memory_equal(leaf(i), want, H);
	}
	/* rfc6962/rfc6962_test.go: echo -n 004C313233343536 | xxd -r -p | sha256sum */
	merkle_leaf_hash(got, "L123456", 7);
	unhex_hash(want, "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
	assert_memory_equal(got, want, H);
	/* A node is 0x01 || left || right: level 1 of NodeHashes() from level 0. */
	for (unsigned i = 0; i < 4; i++) {
		merkle_node_hash(got, leaf(2 * i), leaf(2 * i + 1));
		unhex_hash(want, node_hex[1][i]);
		assert_memory_equal(got, want, H);
	}
	/* The empty tree is SHA-256 of nothing, not the hash of an empty leaf. */
	merkle_root(got, NULL, 0);
	unhex_hash(want, root_hex[0]);
	assert_memory_equal(got, want, H);
	assert_memory_not_equal(got, leaf(0), H);
}

static void
node_hash_may_write_over_its_inputs(void **state)
{
	uint8_t want[H], l[H], r[H];

	(void)state;
	merkle_node_hash(want, leaf(0), leaf(1));
	memcpy(l, leaf(0), H);
	memcpy(r, leaf(1), H);
	merkle_node_hash(l, l, r);
	assert_memory_equal(l, want, H);
	memcpy(l, leaf(0), H);
	merkle_node_hash(r, l, r);
	assert_memory_equal(r, want, H);
}

static void
roots_of_sizes_0_to_8_are_known(void **state)
{
	struct merkle_frontier f;
	uint8_t want[H], got[H];

	(void)state;
	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex_hash(want, root_hex[n]);
		root_of(n, got);
		assert_memory_equal(got, want, H);
		store.limit = n;
		assert_err(merkle_root_from(got, store_leaf, &store, n), PU_OK);
		assert_memory_equal(got, want, H);
		merkle_frontier_root(&f, got);
		assert_memory_equal(got, want, H);
		if (n < 8)
			assert_err(merkle_frontier_append(&f, leaf(n)), PU_OK);
	}
}

static void
frontier_nodes_are_the_compact_trees(void **state)
{
	struct merkle_frontier f;
	uint8_t want[H];

	(void)state;
	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		assert_int_equal(f.size, n);
		/* One node per set bit of the size: the perfect subtrees, largest first. */
		assert_int_equal(f.n_nodes, (n & 1) + (n >> 1 & 1) + (n >> 2 & 1) + (n >> 3 & 1));
		for (unsigned k = 0; k < f.n_nodes; k++) {
			const struct node_at *at = &compact_trees[n][k];
			unhex_hash(want, node_hex[at->level][at->index]);
			assert_memory_equal(f.nodes[k], want, H);
		}
		if (n < 8)
			assert_err(merkle_frontier_append(&f, leaf(n)), PU_OK);
	}
}

static void
frontier_agrees_with_the_recursive_root(void **state)
{
	struct merkle_frontier f;
	uint8_t a[H], b[H];

	(void)state;
	/* The writer's incremental root and the verifier's from-the-leaves root, every size. */
	merkle_frontier_init(&f);
	for (uint64_t n = 0; n <= MANY_LEAVES; n++) {
		merkle_frontier_root(&f, a);
		root_of(n, b);
		if (memcmp(a, b, H) != 0)
			fail_msg("frontier root differs at size %" PRIu64, n);
		if (n < MANY_LEAVES)
			assert_err(merkle_frontier_append(&f, leaf(n)), PU_OK);
	}
	assert_int_equal(f.size, MANY_LEAVES);
	assert_int_equal(f.n_nodes, 4);	/* 300 = 256 + 32 + 8 + 4 */
}

static void
full_frontier_refuses_another_leaf(void **state)
{
	struct merkle_frontier f;

	(void)state;
	/* 2^64 - 1 leaves: one node per level; the next leaf has no size to go to. */
	merkle_frontier_init(&f);
	f.size = UINT64_MAX;
	f.n_nodes = MERKLE_MAX_LEVELS;
	assert_err(merkle_frontier_append(&f, leaf(0)), PU_ERR_TOO_LARGE);
	assert_int_equal(f.size, UINT64_MAX);
	assert_int_equal(f.n_nodes, MERKLE_MAX_LEVELS);
}

/* ---- stored perfect subtrees (the gateway's way) ------------------------------------- */

/* Every perfect subtree of the 300 leaves, as merkle_frontier_append_nodes reported them. */
static struct {
	uint8_t nodes[10][MANY_LEAVES][H];	/* [level][index]; 2^9 > 300 */
	uint64_t made[10];			/* how many of each level were reported */
	uint64_t limit;				/* the tree size the generator works on */
} stored;

static int
stored_node(void *arg, unsigned level, uint64_t index, uint8_t out[H])
{
	(void)arg;
	if (level >= 10 || index >= stored.made[level] ||
	    ((index + 1) << level) > stored.limit)
		fail_msg("generator read node (%u, %" PRIu64 ") of a %" PRIu64 "-leaf tree",
		    level, index, stored.limit);
	memcpy(out, stored.nodes[level][index], H);
	return PU_OK;
}

static void
stored_subtrees_give_the_same_proofs(void **state)
{
	uint8_t made[MERKLE_MAX_LEVELS][H], a[MERKLE_MAX_PROOF * H], b[MERKLE_MAX_PROOF * H];
	struct merkle_frontier f, loaded;
	size_t na, nb;
	unsigned n_made;

	(void)state;
	memset(&stored, 0, sizeof(stored));
	merkle_frontier_init(&f);
	for (uint64_t i = 0; i < MANY_LEAVES; i++) {
		assert_err(merkle_frontier_append_nodes(&f, leaf(i), made, &n_made), PU_OK);
		memcpy(stored.nodes[0][i], leaf(i), H);
		stored.made[0] = i + 1;
		/* Each reported node is the next one of its level, in order. */
		for (unsigned l = 1; l <= n_made; l++) {
			assert_int_equal(stored.made[l], (f.size >> l) - 1);
			memcpy(stored.nodes[l][stored.made[l]++], made[l - 1], H);
		}
		/* The frontier rebuilt from the stored nodes is the one built leaf by leaf. */
		stored.limit = f.size;
		assert_err(merkle_frontier_load(&loaded, f.size, stored_node, NULL), PU_OK);
		assert_int_equal(loaded.size, f.size);
		assert_int_equal(loaded.n_nodes, f.n_nodes);
		assert_memory_equal(loaded.nodes, f.nodes, f.n_nodes * H);
	}
	for (uint64_t size = 1; size <= MANY_LEAVES; size += size < 40 ? 1 : 37) {
		for (uint64_t m = 0; m < size; m += m < 40 ? 1 : 13) {
			stored.limit = size;
			assert_err(merkle_inclusion_proof_nodes(stored_node, NULL, m, size, a, &na),
			    PU_OK);
			assert_err(gen_inclusion(m, size, b, &nb), PU_OK);
			assert_int_equal(na, nb);
			assert_memory_equal(a, b, na * H);
			stored.limit = size;
			assert_err(merkle_consistency_proof_nodes(stored_node, NULL, m + 1, size, a,
			    &na), PU_OK);
			assert_err(gen_consistency(m + 1, size, b, &nb), PU_OK);
			assert_int_equal(na, nb);
			assert_memory_equal(a, b, na * H);
		}
	}
}

/* ---- known-answer proofs --------------------------------------------------------------- */

static void
assert_proof_is(const uint8_t *proof, size_t n, const struct known_proof *k)
{
	uint8_t want[H];

	assert_int_equal(n, k->n);
	for (size_t i = 0; i < n; i++) {
		unhex_hash(want, k->hex[i]);
		assert_memory_equal(proof + i * H, want, H);
	}
}

static void
known_inclusion_proofs_generated_and_verified(void **state)
{
	uint8_t proof[MERKLE_MAX_PROOF * H], root[H];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(known_inclusion) / sizeof(known_inclusion[0]); i++) {
		const struct known_proof *k = &known_inclusion[i];

		assert_err(gen_inclusion(k->a, k->b, proof, &n), PU_OK);
		assert_proof_is(proof, n, k);
		unhex_hash(root, root_hex[k->b]);
		assert_err(merkle_verify_inclusion(leaf(k->a), k->a, k->b, proof, n, root), PU_OK);
	}
	/* The Go table's {0, 0}: no leaf in an empty tree. */
	assert_err(gen_inclusion(0, 0, proof, &n), PU_ERR_PROOF_INDEX);
	assert_int_equal(n, 0);
}

static void
known_consistency_proofs_generated_and_verified(void **state)
{
	uint8_t proof[MERKLE_MAX_PROOF * H], r1[H], r2[H];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(known_consistency) / sizeof(known_consistency[0]); i++) {
		const struct known_proof *k = &known_consistency[i];

		assert_err(gen_consistency(k->a, k->b, proof, &n), PU_OK);
		assert_proof_is(proof, n, k);
		unhex_hash(r1, root_hex[k->a]);
		unhex_hash(r2, root_hex[k->b]);
		assert_err(merkle_verify_consistency(k->a, k->b, proof, n, r1, r2), PU_OK);
	}
}

static void
probe_proof(uint8_t *proof, const unsigned *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		unhex_hash(proof + i * H, td_hash[idx[i]]);
}

static void
transparency_dev_inclusion_probes(void **state)
{
	uint8_t proof[5 * H], leaf_hash[H], root[H];

	(void)state;
	for (size_t i = 0; i < sizeof(td_inclusion) / sizeof(td_inclusion[0]); i++) {
		const struct td_inclusion *p = &td_inclusion[i];
		int rc;

		unhex_hash(leaf_hash, td_hash[p->leaf]);
		unhex_hash(root, td_hash[p->root]);
		probe_proof(proof, p->proof, p->n);
		rc = merkle_verify_inclusion(leaf_hash, p->index, p->size, proof, p->n, root);
		if (rc != p->want)
			fail_msg("inclusion/%s: %s, want %s", p->name, pu_err_name(rc),
			    pu_err_name(p->want));
	}
}

static void
transparency_dev_consistency_probes(void **state)
{
	uint8_t proof[5 * H], r1[H], r2[H];

	(void)state;
	for (size_t i = 0; i < sizeof(td_consistency) / sizeof(td_consistency[0]); i++) {
		const struct td_consistency *p = &td_consistency[i];
		int rc;

		unhex_hash(r1, td_hash[p->root1]);
		unhex_hash(r2, td_hash[p->root2]);
		probe_proof(proof, p->proof, p->n);
		rc = merkle_verify_consistency(p->size1, p->size2, proof, p->n, r1, r2);
		if (rc != p->want)
			fail_msg("consistency/%s: %s, want %s", p->name, pu_err_name(rc),
			    pu_err_name(p->want));
	}
}

/* ---- every proof of every small tree --------------------------------------------------- */

/* Each hash of the proof, one bit flipped in turn, must break it. */
static void
assert_every_flip_breaks_inclusion(uint64_t index, uint64_t size, uint8_t *proof, size_t n,
    const uint8_t root[H])
{
	for (size_t i = 0; i < n; i++) {
		proof[i * H + i % H] ^= 0x10;
		assert_err(merkle_verify_inclusion(leaf(index), index, size, proof, n, root),
		    PU_ERR_PROOF_ROOT);
		proof[i * H + i % H] ^= 0x10;
	}
}

static void
every_inclusion_proof_of_small_trees(void **state)
{
	uint8_t proof[(MERKLE_MAX_PROOF + 1) * H], root[H], other_root[H];
	size_t n, want_len;
	int rc;

	(void)state;
	for (uint64_t size = 1; size <= SMALL_TREES; size++) {
		root_of(size, root);
		root_of(size + 1, other_root);
		for (uint64_t index = 0; index < size; index++) {
			assert_err(gen_inclusion(index, size, proof, &n), PU_OK);
			assert_err(merkle_inclusion_proof_len(index, size, &want_len), PU_OK);
			assert_int_equal(n, want_len);
			rc = merkle_verify_inclusion(leaf(index), index, size, proof, n, root);
			assert_err(rc, PU_OK);
			assert_every_flip_breaks_inclusion(index, size, proof, n, root);
			/* Another tree's root, of the size the proof is right for. */
			assert_err(merkle_verify_inclusion(leaf(index), index, size, proof, n,
			    other_root), PU_ERR_PROOF_ROOT);
			for (uint64_t j = 0; j < size; j++) {
				if (j == index)
					continue;
				/* The proof of this leaf does not prove another leaf... */
				assert_err(merkle_verify_inclusion(leaf(j), index, size, proof, n,
				    root), PU_ERR_PROOF_ROOT);
				/* ...nor this leaf at another index. */
				rc = merkle_verify_inclusion(leaf(index), j, size, proof, n, root);
				assert_true(rc == PU_ERR_PROOF_ROOT || rc == PU_ERR_PROOF_LENGTH);
			}
			/* One hash too many or too few: refused on length alone. */
			memcpy(proof + n * H, root, H);
			assert_err(merkle_verify_inclusion(leaf(index), index, size, proof, n + 1,
			    root), PU_ERR_PROOF_LENGTH);
			if (n > 0)
				assert_err(merkle_verify_inclusion(leaf(index), index, size, proof,
				    n - 1, root), PU_ERR_PROOF_LENGTH);
			/* A proof against an older tree is no proof against the next one. */
			rc = merkle_verify_inclusion(leaf(index), index, size + 1, proof, n,
			    other_root);
			assert_true(rc == PU_ERR_PROOF_ROOT || rc == PU_ERR_PROOF_LENGTH);
		}
		/* The index must lie inside the tree. */
		assert_err(merkle_verify_inclusion(leaf(0), size, size, proof, 0, root),
		    PU_ERR_PROOF_INDEX);
		assert_err(gen_inclusion(size, size, proof, &n), PU_ERR_PROOF_INDEX);
	}
}

static void
every_consistency_proof_of_small_trees(void **state)
{
	uint8_t proof[(MERKLE_MAX_PROOF + 1) * H], r1[H], r2[H], other[H];
	size_t n, want_len;
	int rc;

	(void)state;
	merkle_leaf_hash(other, "not a root", 10);
	for (uint64_t size2 = 1; size2 <= SMALL_TREES; size2++) {
		root_of(size2, r2);
		for (uint64_t size1 = 1; size1 <= size2; size1++) {
			root_of(size1, r1);
			assert_err(gen_consistency(size1, size2, proof, &n), PU_OK);
			assert_err(merkle_consistency_proof_len(size1, size2, &want_len), PU_OK);
			assert_int_equal(n, want_len);
			rc = merkle_verify_consistency(size1, size2, proof, n, r1, r2);
			assert_err(rc, PU_OK);
			for (size_t i = 0; i < n; i++) {
				proof[i * H + 7] ^= 0x01;
				rc = merkle_verify_consistency(size1, size2, proof, n, r1, r2);
				assert_err(rc, PU_ERR_PROOF_ROOT);
				proof[i * H + 7] ^= 0x01;
			}
			/* A root that is not the tree's, old or new. */
			assert_err(merkle_verify_consistency(size1, size2, proof, n, other, r2),
			    PU_ERR_PROOF_ROOT);
			assert_err(merkle_verify_consistency(size1, size2, proof, n, r1, other),
			    PU_ERR_PROOF_ROOT);
			memcpy(proof + n * H, r1, H);
			assert_err(merkle_verify_consistency(size1, size2, proof, n + 1, r1, r2),
			    PU_ERR_PROOF_LENGTH);
			if (n > 0)
				assert_err(merkle_verify_consistency(size1, size2, proof, n - 1, r1,
				    r2), PU_ERR_PROOF_LENGTH);
			if (size1 < size2) {
				/* The log may not shrink: refused before the proof is looked at. */
				rc = merkle_verify_consistency(size2, size1, proof, n, r2, r1);
				assert_err(rc, PU_ERR_PROOF_SHRINK);
				assert_err(gen_consistency(size2, size1, proof, &n),
				    PU_ERR_PROOF_SHRINK);
			}
		}
		/* Nothing is consistent "from" an empty tree. */
		assert_err(merkle_verify_consistency(0, size2, proof, 0, r1, r2),
		    PU_ERR_PROOF_EMPTY_TREE);
		assert_err(gen_consistency(0, size2, proof, &n), PU_ERR_PROOF_EMPTY_TREE);
	}
}

static void
equal_sizes_need_equal_roots_and_no_proof(void **state)
{
	uint8_t r5[H], r6[H];

	(void)state;
	root_of(5, r5);
	root_of(6, r6);
	assert_err(merkle_verify_consistency(5, 5, NULL, 0, r5, r5), PU_OK);
	/* Two roots for one size: a fork, whatever proof comes with it. */
	assert_err(merkle_verify_consistency(5, 5, NULL, 0, r5, r6), PU_ERR_PROOF_ROOT);
	assert_err(merkle_verify_consistency(5, 5, r5, 1, r5, r5), PU_ERR_PROOF_LENGTH);
}

/* ---- the callback, and trees too big to build ------------------------------------------ */

static void
store_error_is_returned_unchanged(void **state)
{
	uint8_t proof[MERKLE_MAX_PROOF * H], root[H];
	size_t n = 99;

	(void)state;
	store.fail_at = 13;
	assert_err(gen_inclusion(2, 20, proof, &n), PU_ERR_STORE);
	assert_int_equal(n, 0);
	n = 99;
	assert_err(gen_consistency(5, 20, proof, &n), PU_ERR_STORE);
	assert_int_equal(n, 0);
	store.limit = 20;
	assert_err(merkle_root_from(root, store_leaf, &store, 20), PU_ERR_STORE);
	store.fail_at = UINT64_MAX;
}

static void
generator_reads_each_leaf_once(void **state)
{
	uint8_t proof[MERKLE_MAX_PROOF * H];
	size_t n;

	(void)state;
	/* store_leaf fails the test on a read at or past the size asked about. */
	store.reads = 0;
	assert_err(gen_inclusion(100, 257, proof, &n), PU_OK);
	assert_int_equal(store.reads, 256);	/* all but the leaf itself */
	store.reads = 0;
	assert_err(gen_consistency(100, 257, proof, &n), PU_OK);
	assert_true(store.reads <= 257);
}

static void
huge_trees_have_bounded_proofs(void **state)
{
	static const uint8_t zeros[MERKLE_MAX_PROOF * H];
	uint8_t root[H];
	size_t n;

	(void)state;
	memset(root, 0, H);
	assert_err(merkle_inclusion_proof_len(0, UINT64_MAX, &n), PU_OK);
	assert_int_equal(n, 64);
	/* The last leaf hangs along the right edge, under 63 perfect subtrees. */
	assert_err(merkle_inclusion_proof_len(UINT64_MAX - 1, UINT64_MAX, &n), PU_OK);
	assert_int_equal(n, 63);
	/* Leaf 0 of 2^63 + 1: its path and the last leaf's part at the top level. */
	assert_err(merkle_inclusion_proof_len(0, ((uint64_t)1 << 63) + 1, &n), PU_OK);
	assert_int_equal(n, 64);
	assert_err(merkle_inclusion_proof_len(UINT64_MAX, UINT64_MAX, &n), PU_ERR_PROOF_INDEX);
	/* The longest consistency proof of all: MERKLE_MAX_PROOF. */
	assert_err(merkle_consistency_proof_len(3, UINT64_MAX, &n), PU_OK);
	assert_int_equal(n, MERKLE_MAX_PROOF);
	assert_err(merkle_consistency_proof_len(((uint64_t)1 << 63) + 1, UINT64_MAX, &n), PU_OK);
	assert_int_equal(n, MERKLE_MAX_PROOF);
	/* Lengths are judged first: a NULL proof of the wrong length is never read. */
	assert_err(merkle_verify_inclusion(root, 0, UINT64_MAX, NULL, 0, root),
	    PU_ERR_PROOF_LENGTH);
	assert_err(merkle_verify_consistency(3, UINT64_MAX, NULL, 64, root, root),
	    PU_ERR_PROOF_LENGTH);
	/* Of the right length, a made-up proof is hashed to the end and refused. */
	assert_err(merkle_verify_inclusion(root, 0, ((uint64_t)1 << 63) + 1, zeros, 64, root),
	    PU_ERR_PROOF_ROOT);
	assert_err(merkle_verify_consistency(3, UINT64_MAX, zeros, MERKLE_MAX_PROOF, root,
	    root), PU_ERR_PROOF_ROOT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leaf_and_node_hashes_are_rfc6962),
		cmocka_unit_test(node_hash_may_write_over_its_inputs),
		cmocka_unit_test(roots_of_sizes_0_to_8_are_known),
		cmocka_unit_test(frontier_nodes_are_the_compact_trees),
		cmocka_unit_test(frontier_agrees_with_the_recursive_root),
		cmocka_unit_test(full_frontier_refuses_another_leaf),
		cmocka_unit_test(known_inclusion_proofs_generated_and_verified),
		cmocka_unit_test(known_consistency_proofs_generated_and_verified),
		cmocka_unit_test(transparency_dev_inclusion_probes),
		cmocka_unit_test(transparency_dev_consistency_probes),
		cmocka_unit_test(every_inclusion_proof_of_small_trees),
		cmocka_unit_test(every_consistency_proof_of_small_trees),
		cmocka_unit_test(equal_sizes_need_equal_roots_and_no_proof),
		cmocka_unit_test(store_error_is_returned_unchanged),
		cmocka_unit_test(generator_reads_each_leaf_once),
		cmocka_unit_test(huge_trees_have_bounded_proofs),
		cmocka_unit_test(stored_subtrees_give_the_same_proofs),
	};

	if (crypto_init() != PU_OK)
		return 70;
	return cmocka_run_group_tests(tests, store_setup, NULL);
}
