// A C resolver in the style of Joanne Koong's famfs.bpf.c (reference fuse-iomap-abi.md §4.1):
// the file's metadata comes from a hash map keyed by nodeid, and the extent and strip walks
// are loops bounded by FAMFS_MAX_EXTENTS (32) and FAMFS_MAX_STRIPS (16) for the verifier.
// Written for this benchmark (not copied); it runs as a syscall program with famfs-ts's
// 40-byte ctx so the same loader and test-run check it. Build: see bench/bpf/run.ts.
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define FAMFS_MAX_EXTENTS 32
#define FAMFS_MAX_STRIPS 16
#define EXT_SIMPLE 0
#define EXT_INTERLEAVE 1

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct famfs_simple_ext {
	__u64 dev_index;
	__u64 ext_offset;
	__u64 ext_len;
};

struct famfs_interleaved_ext {
	__u64 nstrips;
	__u64 chunk_size;
	__u64 nbytes;
	struct famfs_simple_ext strips[FAMFS_MAX_STRIPS];
};

struct famfs_file_meta {
	__u8 error;
	__u32 file_type;
	__u64 file_size;
	__u32 fm_extent_type;
	__u64 dev_bitmap;
	union {
		struct {
			__u64 fm_nextents;
			struct famfs_simple_ext se[FAMFS_MAX_EXTENTS];
		};
		struct {
			__u64 fm_niext;
			struct famfs_interleaved_ext ie[FAMFS_MAX_EXTENTS];
		};
	};
};

/* The loader creates the hash map (key u64 nodeid, value famfs_file_meta) and patches its fd. */
struct { int placeholder; } famfs_meta_hashmap SEC(".maps");

struct famfs_ctx {
	__u64 pos;
	__u64 daxdev;
	__u64 offset;
	__u64 length;
	__u64 nodeid;
};

static __u64 min64(__u64 a, __u64 b) { return a < b ? a : b; }

SEC("syscall")
int famfs_c_resolver(struct famfs_ctx *ctx)
{
	__u64 nodeid = ctx->nodeid;
	__u64 pos = ctx->pos;
	struct famfs_file_meta *meta = bpf_map_lookup_elem(&famfs_meta_hashmap, &nodeid);
	if (!meta)
		return 2;
	__u64 size = meta->file_size;
	if (pos >= size)
		return 1;
	__u64 local = pos;

	if (meta->fm_extent_type == EXT_SIMPLE) {
		for (int i = 0; i < FAMFS_MAX_EXTENTS; i++) {
			if (i >= meta->fm_nextents)
				break;
			struct famfs_simple_ext *se = &meta->se[i];
			if (local < se->ext_len) {
				ctx->daxdev = se->dev_index;
				ctx->offset = se->ext_offset + local;
				ctx->length = min64(se->ext_len - local, size - pos);
				return 0;
			}
			local -= se->ext_len;
		}
		return 3;
	}

	for (int i = 0; i < FAMFS_MAX_EXTENTS; i++) {
		if (i >= meta->fm_niext)
			break;
		struct famfs_interleaved_ext *ie = &meta->ie[i];
		__u64 ext_size = min64(ie->nbytes, size);
		if (local < ext_size) {
			__u64 chunk = ie->chunk_size;
			__u64 nstrips = ie->nstrips;
			if (chunk == 0 || nstrips == 0 || nstrips > FAMFS_MAX_STRIPS)
				return 3;
			__u64 chunk_num = local / chunk;
			__u64 chunk_off = local % chunk;
			__u64 stripe = chunk_num / nstrips;
			__u64 strip_num = chunk_num % nstrips;
			for (int s = 0; s < FAMFS_MAX_STRIPS; s++) {
				if (s != strip_num)
					continue;
				struct famfs_simple_ext *st = &ie->strips[s];
				ctx->daxdev = st->dev_index;
				ctx->offset = st->ext_offset + stripe * chunk + chunk_off;
				ctx->length = min64(min64(chunk - chunk_off, ext_size - local), size - pos);
				return 0;
			}
			return 3;
		}
		local -= ext_size;
	}
	return 3;
}

char _license[] SEC("license") = "GPL";
