/*
 * The wire formats of AMD-Vi's three rings and the guest side of them.
 * Every ring entry is 16 bytes, two little-endian quadwords q0 (bits 63:0)
 * and q1 (bits 127:64).  This header turns command-buffer entries (all
 * eight opcodes plus the host-only RESET_VMMIO), event-log entries and
 * PPR-log entries into decoded structs and back, field by field, and
 * gives a guest driver what it needs to use a vIOMMU's rings: push
 * commands and ring the tail, wait for a COMPLETION_WAIT semaphore, pop
 * event and PPR entries one at a time or drain them up to the tail, and
 * give the slots back.  The guest reaches its
 * head/tail/status registers through the VF page (vendors/amd/amd_hw.h)
 * and its rings through their host pointers; it never calls the model.
 */
#ifndef ISIM_VENDORS_AMD_CMD_H
#define ISIM_VENDORS_AMD_CMD_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- rings */

#define AMD_ENTRY_SIZE		16u
#define AMD_LEN_MIN		8	/* 256 entries, 4 KiB */
#define AMD_LEN_MAX		15	/* 32768 entries, 512 KiB */
/* A head or tail register holds a byte offset in bits 18:4. */
#define AMD_PTR_MASK		0x7fff0ull
/* Bits 51:12 of a ring base. */
#define AMD_BASE_MASK		0x000ffffffffff000ull

enum amd_ring {
	AMD_RING_CMD,
	AMD_RING_EVT,
	AMD_RING_PPR,
	AMD_RING_NR,
};

static inline uint32_t amd_ring_bytes(unsigned int len_code)
{
	return AMD_ENTRY_SIZE << len_code;
}

/*
 * The VF page: the guest's 0x2000 MMIO page, one per gid.  Offsets are
 * the native ones minus 0x2000 (spec §5.1, inferred).  Each register is a
 * naturally aligned 64-bit word that guest and model access atomically.
 *
 * It is plain shared memory, not MMIO: a store cannot have a side effect.
 * So the Status register's write-1-to-clear rule is the guest's to apply,
 * with amd_guest_status_write() (a plain store would replace the
 * register, RO bits included); and a store to a pointer the IOMMU owns
 * (the command head, a log's tail) while its ring runs stays readable
 * until the model next publishes that pointer, at the latest when the
 * ring stops, so the next enable never takes it up.
 */
#define AMD_VF_PAGE_SIZE	4096u
#define AMD_VF_CMD_HEAD		0x00
#define AMD_VF_CMD_TAIL		0x08
#define AMD_VF_EVT_HEAD		0x10
#define AMD_VF_EVT_TAIL		0x18
#define AMD_VF_STATUS		0x20
#define AMD_VF_PPR_HEAD		0x30
#define AMD_VF_PPR_TAIL		0x38

/* Status register (native 0x2020). */
#define AMD_STS_EVT_OVERFLOW	(1ull << 0)
#define AMD_STS_EVT_INT		(1ull << 1)
#define AMD_STS_COMWAIT_INT	(1ull << 2)
#define AMD_STS_EVT_RUN		(1ull << 3)
#define AMD_STS_CMD_RUN		(1ull << 4)
#define AMD_STS_PPR_OVERFLOW	(1ull << 5)
#define AMD_STS_PPR_INT		(1ull << 6)
#define AMD_STS_PPR_RUN		(1ull << 7)
#define AMD_STS_RW1C_MASK	0x00068e67ull

static inline _Atomic uint64_t *amd_vf_reg(void *vf_page, unsigned int off)
{
	return (_Atomic uint64_t *)((char *)vf_page + off);
}

/* Extended Feature Register bits that gate ring behaviour (§1.7). */
#define AMD_EFR_PREF_SUP	(1ull << 0)
#define AMD_EFR_PPR_SUP		(1ull << 1)
#define AMD_EFR_GT_SUP		(1ull << 4)
#define AMD_EFR_IA_SUP		(1ull << 6)
#define AMD_EFR_HE_SUP		(1ull << 8)
#define AMD_EFR_VIOMMU		(1ull << 55)

struct amd_entry {
	uint64_t q0;
	uint64_t q1;
};

/* Byte images are little-endian whatever the host is. */
static inline uint64_t amd_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

/*
 * One quadword at a time on both sides, inline because both run once per
 * ring entry.  Callers build an entry field by field (amd_cmd_encode
 * stores q0 and q1 apart), and a 16-byte load of two 8-byte stores just
 * made cannot be forwarded from the store buffer: a stall of a dozen
 * cycles per entry, more than the rest of a push.  The empty asm keeps
 * each quadword in a general register so that the compiler does not merge
 * the two copies back into one vector access.
 */
#define AMD_QWORD_IN_REG(v)	__asm__("" : "+r"(v))

static inline void amd_entry_to_bytes(const struct amd_entry *e, void *dst)
{
	uint64_t q0 = amd_le64(e->q0), q1 = amd_le64(e->q1);

	AMD_QWORD_IN_REG(q0);
	AMD_QWORD_IN_REG(q1);
	memcpy(dst, &q0, sizeof(q0));
	memcpy((uint8_t *)dst + 8, &q1, sizeof(q1));
}

/*
 * The same image in one 16-byte store, from quadwords held in registers:
 * for a writer that builds each entry in registers and stores it into a
 * ring at once (the model's log writer), where the two 8-byte stores of
 * amd_entry_to_bytes() would be twice the stores.
 */
typedef uint64_t amd_entry_vec __attribute__((vector_size(16)));

static inline void amd_entry_store(uint64_t q0, uint64_t q1, void *dst)
{
	amd_entry_vec v = { amd_le64(q0), amd_le64(q1) };

	memcpy(dst, &v, sizeof(v));
}

static inline void amd_entry_from_bytes(struct amd_entry *e, const void *src)
{
	uint64_t q0, q1;

	memcpy(&q0, src, sizeof(q0));
	memcpy(&q1, (const uint8_t *)src + 8, sizeof(q1));
	AMD_QWORD_IN_REG(q0);
	AMD_QWORD_IN_REG(q1);
	e->q0 = amd_le64(q0);
	e->q1 = amd_le64(q1);
}

static inline unsigned int amd_entry_code(const struct amd_entry *e)
{
	return (unsigned int)(e->q0 >> 60);
}

/* ------------------------------------------------------------- commands */

enum amd_cmd_op {
	AMD_CMD_COMPLETION_WAIT = 0x1,
	AMD_CMD_INV_DEVTAB_ENTRY = 0x2,
	AMD_CMD_INV_IOMMU_PAGES = 0x3,
	AMD_CMD_INV_IOTLB_PAGES = 0x4,
	AMD_CMD_INV_INTERRUPT_TABLE = 0x5,
	AMD_CMD_PREFETCH_IOMMU_PAGES = 0x6,
	AMD_CMD_COMPLETE_PPR_REQUEST = 0x7,
	AMD_CMD_INV_IOMMU_ALL = 0x8,
	AMD_CMD_RESET_VMMIO = 0xa,	/* host command buffer only */
};

/*
 * Where INVALIDATE_IOTLB_PAGES keeps its PASID: Linux splits a 16-bit
 * PASID into bits 23:16 (high byte) and 55:48 (low byte) and leaves 59:56
 * reserved; VirtualBox's header reads bits 23:16 as PASID[7:0] and 59:48
 * as PASID[19:8].
 */
enum amd_iotlb_pasid_layout {
	AMD_IOTLB_PASID_LINUX,
	AMD_IOTLB_PASID_VBOX,
};

/* How a decoder reads the fields whose layout depends on the setup. */
struct amd_cmd_format {
	enum amd_iotlb_pasid_layout iotlb_pasid;
	bool iotlb_type;	/* InvIotlbTypeSup: bits 69:68 are Type */
};

/* COMPLETE_PPR_REQUEST status, as the PCIe PRG response means it. */
enum amd_ppr_rsp {
	AMD_PPR_RSP_SUCCESS,
	AMD_PPR_RSP_INVALID,
	AMD_PPR_RSP_FAILURE,
	AMD_PPR_RSP_OTHER,	/* a code neither encoding defines */
};

/* Which numbers the 4-bit status field carries (unverified, §2.3). */
enum amd_ppr_status_encoding {
	AMD_PPR_STATUS_LINUX,	/* 0 success, 1 invalid, 2 failure */
	AMD_PPR_STATUS_PCIE,	/* 0 success, 1 invalid, 0xf failure */
};

struct amd_cmd {
	enum amd_cmd_op op;
	union {
		struct {
			bool s, i, f;
			uint64_t store_addr;	/* 8-byte aligned, < 2^52 */
			uint64_t store_data;
		} comp_wait;
		struct {
			uint16_t devid;
		} inv_dte;
		struct {
			uint32_t pasid;		/* 20 bits, meaningful with gn */
			uint16_t domid;
			bool s, pde, gn;
			uint64_t addr;		/* 4 KiB aligned; range-encoded with s */
		} inv_pages;
		struct {
			uint16_t devid;
			uint32_t pasid;		/* 16 bits (Linux) or 20 (VBox) */
			uint8_t maxpend;
			uint16_t queueid;
			bool s, gn;
			uint8_t type;		/* 2 bits, only with iotlb_type */
			uint64_t addr;
		} inv_iotlb;
		struct {
			uint16_t devid;
		} inv_irt;
		struct {
			uint16_t devid;
			uint8_t count;
			uint32_t pasid;
			bool s, gn, inval;
			uint64_t addr;
		} prefetch;
		struct {
			uint16_t devid;
			uint32_t pasid;
			bool gn;
			uint16_t tag;		/* PRG index, 9 bits */
			uint8_t status;		/* raw 4-bit code */
		} complete_ppr;
		struct {
			uint16_t gid;
			bool all, vcmd;
		} reset_vmmio;
	};
};

/*
 * The reserved bits of q0 of INVALIDATE_DEVTAB_ENTRY and
 * INVALIDATE_INTERRUPT_TABLE (bits 59:16; all of q1 is reserved): the
 * decoder's and the model's in-place check share them.
 */
#define AMD_CMD_DEVID_RSVD0	0x0fffffffffff0000ull

/* 0, or -EINVAL when a field does not fit its bits or the opcode is unknown. */
int amd_cmd_encode_full(const struct amd_cmd *cmd,
			const struct amd_cmd_format *fmt, struct amd_entry *e);
/*
 * The same by value, all zeroes (opcode 0, which no command has) where it
 * fails: an inline caller's entry then never has its address taken, and
 * stays in registers on its way into the ring.
 */
struct amd_entry amd_cmd_encode_value(const struct amd_cmd *cmd,
				      const struct amd_cmd_format *fmt);

/*
 * amd_cmd_encode_full() with the commands that carry nothing but a
 * DeviceID built inline: they are what a guest queues most (one per
 * device of every unmap), and have no field that could fail to fit.
 */
static inline int amd_cmd_encode(const struct amd_cmd *cmd,
				 const struct amd_cmd_format *fmt,
				 struct amd_entry *e)
{
	switch (cmd->op) {
	case AMD_CMD_INV_DEVTAB_ENTRY:
		e->q0 = (uint64_t)AMD_CMD_INV_DEVTAB_ENTRY << 60 |
			cmd->inv_dte.devid;
		e->q1 = 0;
		return 0;
	case AMD_CMD_INV_INTERRUPT_TABLE:
		e->q0 = (uint64_t)AMD_CMD_INV_INTERRUPT_TABLE << 60 |
			cmd->inv_irt.devid;
		e->q1 = 0;
		return 0;
	default: {
		/*
		 * A copy goes out, so the caller's command never has its
		 * address taken: a caller that builds one command after
		 * another keeps it in registers, and sees its opcode.
		 */
		struct amd_cmd copy = *cmd;
		struct amd_entry v = amd_cmd_encode_value(&copy, fmt);

		if (!v.q0)
			return -EINVAL;
		*e = v;
		return 0;
	}
	}
}
/*
 * 0; -EOPNOTSUPP for an opcode that has no format (0, 9, 0xb-0xf);
 * -EINVAL when a reserved bit is set.  Either way @cmd->op is the opcode.
 */
int amd_cmd_decode(const struct amd_entry *e, const struct amd_cmd_format *fmt,
		   struct amd_cmd *cmd);

/*
 * The inclusive 4 KiB-page range an invalidation covers: one page without
 * S, else the range whose size is given by the lowest clear bit of
 * Address[63:12] (everything when no bit is clear).
 */
void amd_inv_range(uint64_t addr, bool s, uint64_t *first_pfn,
		   uint64_t *last_pfn);
/* The smallest (addr, s) whose range covers [@start, @start + @len). */
void amd_inv_range_encode(uint64_t start, uint64_t len, uint64_t *addr,
			  bool *s);

uint8_t amd_ppr_status_encode(enum amd_ppr_status_encoding enc,
			      enum amd_ppr_rsp rsp);
enum amd_ppr_rsp amd_ppr_status_decode(enum amd_ppr_status_encoding enc,
				       uint8_t status);

/* --------------------------------------------------------------- events */

enum amd_evt_code {
	AMD_EVT_ILLEGAL_DEV_TABLE_ENTRY = 0x1,
	AMD_EVT_IO_PAGE_FAULT = 0x2,
	AMD_EVT_DEV_TAB_HW_ERROR = 0x3,
	AMD_EVT_PAGE_TAB_HW_ERROR = 0x4,
	AMD_EVT_ILLEGAL_COMMAND_ERROR = 0x5,
	AMD_EVT_COMMAND_HW_ERROR = 0x6,
	AMD_EVT_IOTLB_INV_TIMEOUT = 0x7,
	AMD_EVT_INVALID_DEVICE_REQUEST = 0x8,
	AMD_EVT_INVALID_PPR_REQUEST = 0x9,
};

/* The 12-bit flags field, entry bits 59:48, as Linux names it. */
#define AMD_EVT_F_GN		0x001
#define AMD_EVT_F_NX		0x002
#define AMD_EVT_F_US		0x004
#define AMD_EVT_F_I		0x008
#define AMD_EVT_F_PR		0x010
#define AMD_EVT_F_RW		0x020
#define AMD_EVT_F_PE		0x040
#define AMD_EVT_F_RZ		0x080
#define AMD_EVT_F_TR		0x100
/* Hardware-error Type, bits 58:57 (59:57 for INVALID_DEVICE_REQUEST). */
#define AMD_EVT_F_TYPE_SHIFT	9
#define AMD_EVT_F_TYPE(t)	((uint16_t)((t) << AMD_EVT_F_TYPE_SHIFT))

enum amd_hw_err_type {
	AMD_HWERR_MASTER_ABORT = 1,
	AMD_HWERR_TARGET_ABORT = 2,
	AMD_HWERR_DATA_ERROR = 3,
};

/*
 * One event, decoded.  Which fields an event carries depends on its code
 * (§3.2); the others are zero.  @domid and @pasid share bits 47:32: with
 * AMD_EVT_F_GN the entry holds a PASID, without it a DomainID.
 */
struct amd_event {
	uint8_t code;
	uint16_t devid;
	uint16_t domid;
	uint32_t pasid;
	uint16_t flags;
	uint16_t tag;		/* INVALID_PPR_REQUEST: PPR tag[9:0] */
	uint64_t addr;
};

/* The layout amd_event_encode_fast() reads two words of. */
_Static_assert(offsetof(struct amd_event, devid) == 2 &&
	       offsetof(struct amd_event, domid) == 4 &&
	       offsetof(struct amd_event, pasid) == 8 &&
	       offsetof(struct amd_event, flags) == 12,
	       "struct amd_event layout");

/* 0, or -EINVAL when a field does not fit its bits. */
int amd_event_encode_full(const struct amd_event *ev, struct amd_entry *e);

/* The constants amd_event_encode_fast_k() takes, see there. */
#define AMD_EVT_FAST_REJECT \
	((uint64_t)(AMD_EVT_F_GN | 0xf000u) << 32 | 0xfff00000u)
#define AMD_EVT_FAST_DOMID	0x0000ffff00000000ull
#define AMD_EVT_FAST_CODE	((uint64_t)AMD_EVT_IO_PAGE_FAULT << 60)

/*
 * amd_event_encode_fast() with its three constants passed in (always
 * AMD_EVT_FAST_REJECT, _DOMID and _CODE): a loop that encodes many keeps
 * them in registers (see AMD_QWORD_IN_REG), where the compiler would build
 * each 64-bit one anew per entry.
 */
static inline bool amd_event_encode_fast_k(const struct amd_event *ev,
					   struct amd_entry *e,
					   uint64_t reject, uint64_t domid,
					   uint64_t code)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/*
	 * Bytes 0-15 of the struct as two words, for the fields that want
	 * no more than a mask or a shift: DomainID in w0 bits 47:32 (where
	 * the entry has it), PASID in w1 bits 31:0, flags in 47:32.  The
	 * padding bytes read with them are masked or shifted out.
	 */
	uint64_t w0, w1;

	if (ev->code != AMD_EVT_IO_PAGE_FAULT)
		return false;
	memcpy(&w0, ev, sizeof(w0));
	memcpy(&w1, (const uint8_t *)ev + 8, sizeof(w1));
	/* GN, a flag above bit 11 or a PASID above 20 bits: one test. */
	if (w1 & reject)
		return false;
	/* Flags to bits 59:48 (tag shifted out), DomainID stays. */
	e->q0 = ((w1 >> 32) << 48 | code) | (w0 & domid) | ev->devid;
#else
	(void)reject;
	(void)domid;
	(void)code;
	/* One test for all four conditions: a single branch per event. */
	if ((uint32_t)(ev->code ^ AMD_EVT_IO_PAGE_FAULT) |
	    (uint32_t)(ev->flags & (AMD_EVT_F_GN | 0xf000u)) | ev->pasid >> 20)
		return false;
	e->q0 = (uint64_t)AMD_EVT_IO_PAGE_FAULT << 60 |
		(uint64_t)ev->flags << 48 | (uint64_t)ev->domid << 32 |
		ev->devid;
#endif
	e->q1 = ev->addr;
	return true;
}

/*
 * An IO_PAGE_FAULT that names a DomainID, built inline: it is what a
 * device's faults produce, in bursts, and the model encodes each one as
 * it writes it into the log.  False, @e untouched, for any other event
 * (or a field that does not fit): amd_event_encode_full() encodes those.
 * Apart from that call, so that a caller's entry stays in registers.
 */
static inline bool amd_event_encode_fast(const struct amd_event *ev,
					 struct amd_entry *e)
{
	return amd_event_encode_fast_k(ev, e, AMD_EVT_FAST_REJECT,
				       AMD_EVT_FAST_DOMID, AMD_EVT_FAST_CODE);
}

static inline int amd_event_encode(const struct amd_event *ev,
				   struct amd_entry *e)
{
	return amd_event_encode_fast(ev, e) ? 0 : amd_event_encode_full(ev, e);
}

void amd_event_decode(const struct amd_entry *e, struct amd_event *ev);

/* ------------------------------------------------------------ PPR log */

#define AMD_PPR_TYPE_REQUEST	0x1
/* Flags relative to entry bit 48, as Linux names them. */
#define AMD_PPR_F_EX		0x002
#define AMD_PPR_F_RD		0x004
#define AMD_PPR_F_WR		0x020
#define AMD_PPR_F_US		0x040
#define AMD_PPR_F_RZ		0x080
#define AMD_PPR_F_GN		0x100

/* One peripheral page request (PAGE_SERVICE_REQUEST). */
struct amd_ppr {
	uint16_t devid;
	uint32_t pasid;		/* 20 bits */
	uint16_t prgi;		/* tag[8:0] */
	bool last;		/* tag[9] */
	uint16_t flags;		/* AMD_PPR_F_* */
	uint64_t addr;
};

int amd_ppr_encode(const struct amd_ppr *req, struct amd_entry *e);
void amd_ppr_decode(const struct amd_entry *e, struct amd_ppr *req);
/* The INVALID_PPR_REQUEST event that stands for a request not logged. */
void amd_ppr_to_event(const struct amd_ppr *req, struct amd_event *ev);

/* ---------------------------------------------------------- guest side */

/*
 * A guest driver's handle on one ring: the ring memory by its host
 * pointer (guest RAM as the guest sees it), the ring's two registers in
 * the VF page, and the guest's private copies of them.  One thread at a
 * time uses a handle, as Linux serialises producers with iommu->lock.
 */
struct amd_guest_ring {
	uint8_t *base;
	uint32_t size;			/* bytes */
	_Atomic uint64_t *head_reg;
	_Atomic uint64_t *tail_reg;
	uint32_t next;			/* producer: tail to be; consumer: head */
	uint32_t cached_head;		/* command producer's last head read */
};

void amd_guest_ring_init(struct amd_guest_ring *g, void *vf_page,
			 enum amd_ring ring, void *base, unsigned int len_code);
/* The init step Linux does while a ring is stopped: head = tail = 0. */
void amd_guest_ring_reset(struct amd_guest_ring *g);

/* Entries free by the last head read, keeping the slot that tells full. */
static inline uint32_t amd_guest_cmd_free(const struct amd_guest_ring *g)
{
	uint32_t used = (g->next - g->cached_head) & (g->size - 1);

	return (g->size - used) / AMD_ENTRY_SIZE - 1;
}

/* Entries free now (re-reads the head). */
uint32_t amd_guest_cmd_space(struct amd_guest_ring *g);

/*
 * Write an entry at the private tail; -ENOSPC when the ring is full.
 * Inline: a guest pushes every command through it.
 */
static inline int amd_guest_cmd_push(struct amd_guest_ring *g,
				     const struct amd_entry *e)
{
	/* Read before the entry is stored: char stores may alias *g. */
	uint32_t next = g->next, mask = g->size - 1;
	uint8_t *base = g->base;

	/* Like Linux, re-read the hardware head only when space looks short. */
	if (!amd_guest_cmd_free(g) && !amd_guest_cmd_space(g))
		return -ENOSPC;
	amd_entry_to_bytes(e, base + next);
	g->next = (next + AMD_ENTRY_SIZE) & mask;
	return 0;
}
/* Encode and push; -EINVAL for an unencodable command. */
int amd_guest_cmd_queue(struct amd_guest_ring *g, const struct amd_cmd *cmd,
			const struct amd_cmd_format *fmt);
/* Publish the private tail: the doorbell.  A release store. */
void amd_guest_cmd_ring_tail(struct amd_guest_ring *g);

/*
 * COMPLETION_WAIT semaphores live in guest RAM, 8-byte aligned; the model
 * stores to them while the guest polls, so both sides use atomics.
 * Sequence numbers compare modulo 2^64.
 */
bool amd_guest_sem_done(const void *sem, uint64_t seq);
/* Poll (yielding) for up to @timeout_ns; 0 or -ETIMEDOUT. */
int amd_guest_sem_wait(const void *sem, uint64_t seq, uint64_t timeout_ns);

/*
 * The slow half of amd_guest_log_pop(): the tail passed @slot but its code
 * is still zero.  Poll it up to @spins more times, yielding between; 0
 * with *@q0 read once a code shows, -EBUSY if none does.
 */
int amd_guest_log_wait(_Atomic uint64_t *slot, unsigned int spins,
		       uint64_t *q0);

/*
 * Take the entry at the head of an event or PPR log, zero its slot and
 * give it back with a release store of the head.  -EAGAIN when the log is
 * empty; -EBUSY when the tail passed the slot but its code is still zero
 * after @spins polls (the "interrupt before data" errata).  Inline: a
 * guest drains every entry through it.
 */
static inline int amd_guest_log_pop(struct amd_guest_ring *g,
				    struct amd_entry *e, unsigned int spins)
{
	_Atomic uint64_t *slot;
	uint32_t tail;
	uint64_t q0;

	tail = (uint32_t)(atomic_load_explicit(g->tail_reg,
			  memory_order_acquire) & AMD_PTR_MASK);
	if (tail == g->next)
		return -EAGAIN;
	slot = (_Atomic uint64_t *)(g->base + g->next);
	/* Code 0 marks a slot the hardware has not written yet (errata). */
	q0 = amd_le64(atomic_load_explicit(&slot[0], memory_order_acquire));
	if (!(q0 >> 60) && amd_guest_log_wait(slot, spins, &q0))
		return -EBUSY;
	e->q0 = q0;
	e->q1 = amd_le64(atomic_load_explicit(&slot[1], memory_order_relaxed));
	/* Zero the slot so that the next lap can tell "not yet written". */
	atomic_store_explicit(&slot[0], 0, memory_order_relaxed);
	atomic_store_explicit(&slot[1], 0, memory_order_relaxed);
	g->next = (g->next + AMD_ENTRY_SIZE) & (g->size - 1);
	atomic_store_explicit(g->head_reg, g->next, memory_order_release);
	return 0;
}

/*
 * Drain an event or PPR log the way Linux's iommu_poll_events() does: read
 * the tail once (acquire); hand the entries from the head up to it, at
 * most @max, to @fn in ring order, zeroing each slot after @fn saw it; and
 * give them all back with one release store of the head at the end.
 * Returns how many were taken: 0 when the log is empty (or @max is 0).  An
 * entry whose code is still zero after @spins polls (the "interrupt before
 * data" errata, as amd_guest_log_pop() meets it) ends the drain before
 * it, the entries before it taken; -EBUSY, nothing taken, when it is the
 * first.  @fn must not use the ring itself; the entry it gets lives only
 * for the call.  Inline, and @fn with it where the caller names a function
 * the compiler sees: then per entry the drain only loads the two
 * quadwords, runs @fn on them in registers and zeroes the slot.
 */
static inline __attribute__((always_inline)) int
amd_guest_log_drain(struct amd_guest_ring *g, unsigned int max,
		    unsigned int spins,
		    void (*fn)(void *arg, const struct amd_entry *e), void *arg)
{
	uint32_t size = g->size, mask = size - 1, head = g->next, tail, avail;
	uint8_t *base = g->base, *p, *end, *pairs;
	struct amd_entry e;
	unsigned int n, k;
	uint64_t late;

	tail = (uint32_t)(atomic_load_explicit(g->tail_reg,
			  memory_order_acquire) & AMD_PTR_MASK) & mask;
	avail = ((tail - head) & mask) / AMD_ENTRY_SIZE;
	if (avail > max)
		avail = max;
	/*
	 * At most two runs of slots, the second from the start of the ring
	 * where the first reaches its end: within a run the slot pointer
	 * only steps, with no wrap to test per entry.
	 */
	for (n = 0; n < avail; n += k, head = (head + k * AMD_ENTRY_SIZE) & mask) {
		k = (size - head) / AMD_ENTRY_SIZE;
		if (k > avail - n)
			k = avail - n;
		p = base + head;
		end = p + k * AMD_ENTRY_SIZE;
		/*
		 * Two at a time while both are written: half the loop's
		 * overhead per entry.  A pair with a slot not written yet, or
		 * an odd last entry, goes to the loop below, which takes its
		 * entries one by one (and polls).
		 */
		for (pairs = base + head + (k & ~1u) * AMD_ENTRY_SIZE;
		     p != pairs; p += 2 * AMD_ENTRY_SIZE) {
			_Atomic uint64_t *slot = (_Atomic uint64_t *)p;
			struct amd_entry e1;

			/* The line four ahead, for the read and the zeroing. */
			__builtin_prefetch(p + 256, 1);
			e.q0 = amd_le64(atomic_load_explicit(&slot[0],
							     memory_order_acquire));
			e1.q0 = amd_le64(atomic_load_explicit(&slot[2],
							      memory_order_acquire));
			if (!(e.q0 >> 60) || !(e1.q0 >> 60))
				break;
			e.q1 = amd_le64(atomic_load_explicit(&slot[1],
							     memory_order_relaxed));
			e1.q1 = amd_le64(atomic_load_explicit(&slot[3],
							      memory_order_relaxed));
			fn(arg, &e);
			fn(arg, &e1);
			/* Zeroed as below. */
			amd_entry_store(0, 0, p);
			amd_entry_store(0, 0, p + AMD_ENTRY_SIZE);
		}
		for (; p != end; p += AMD_ENTRY_SIZE) {
			_Atomic uint64_t *slot = (_Atomic uint64_t *)p;

			/* Code 0: not written yet (errata); the slow half polls. */
			e.q0 = amd_le64(atomic_load_explicit(&slot[0],
							     memory_order_acquire));
			if (!(e.q0 >> 60)) {
				/* Apart, so that the entry stays in registers. */
				if (amd_guest_log_wait(slot, spins, &late)) {
					k = (unsigned int)(p - (base + head)) /
					    AMD_ENTRY_SIZE;
					n += k;
					head = (head + k * AMD_ENTRY_SIZE) & mask;
					goto out;
				}
				e.q0 = late;
			}
			e.q1 = amd_le64(atomic_load_explicit(&slot[1],
							     memory_order_relaxed));
			fn(arg, &e);
			/*
			 * Zeroed, so that the next lap can tell "not yet
			 * written": one 16-byte store.  Plain, as the model's
			 * are: the release of the head orders it before the
			 * model reuses the slot.
			 */
			amd_entry_store(0, 0, p);
		}
	}
out:
	if (!n)
		return avail ? -EBUSY : 0;
	g->next = head;
	atomic_store_explicit(g->head_reg, head, memory_order_release);
	return (int)n;
}

uint64_t amd_guest_status_read(void *vf_page);
/* A status write: 1 clears a RW1C bit; RO bits and 0s change nothing. */
void amd_guest_status_write(void *vf_page, uint64_t val);

#endif
