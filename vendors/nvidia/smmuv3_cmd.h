/*
 * SMMUv3 command-queue entries as a Tegra241 VCMDQ carries them, and the
 * guest's side of one VCMDQ.  The first half turns the 16-byte entry into a
 * decoded struct and back for every opcode the CMDQV notes list, so the
 * hardware model, the future iommufd driver and tests share one codec.  The
 * second half is what a guest kernel does with the VCMDQ registers it finds
 * in its mmapped VINTF page0: fill ring slots with plain stores, publish
 * PROD with a release store (the simulator's dma_wmb + doorbell), watch CONS
 * with acquire loads for CMD_SYNC completion, and read and acknowledge the
 * GERROR/GERRORN error state.  Nothing here knows about the model's
 * internals; the register layout is the hardware's.
 */
#ifndef ISIM_NVIDIA_SMMUV3_CMD_H
#define ISIM_NVIDIA_SMMUV3_CMD_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ commands */

#define ISIM_SMMU_CMD_SIZE 16u	/* bytes per entry: two little-endian u64 */
#define ISIM_SMMU_CMD_SHIFT 4u

enum isim_smmu_op {
	ISIM_SMMU_OP_PREFETCH_CFG = 0x01,
	ISIM_SMMU_OP_PREFETCH_ADDR = 0x02,
	ISIM_SMMU_OP_CFGI_STE = 0x03,
	ISIM_SMMU_OP_CFGI_STE_RANGE = 0x04,	/* CFGI_ALL is RANGE = 31 */
	ISIM_SMMU_OP_CFGI_CD = 0x05,
	ISIM_SMMU_OP_CFGI_CD_ALL = 0x06,
	ISIM_SMMU_OP_TLBI_NH_ALL = 0x10,
	ISIM_SMMU_OP_TLBI_NH_ASID = 0x11,
	ISIM_SMMU_OP_TLBI_NH_VA = 0x12,
	ISIM_SMMU_OP_TLBI_NH_VAA = 0x13,
	ISIM_SMMU_OP_TLBI_EL3_ALL = 0x18,
	ISIM_SMMU_OP_TLBI_EL3_VA = 0x1a,
	ISIM_SMMU_OP_TLBI_EL2_ALL = 0x20,
	ISIM_SMMU_OP_TLBI_EL2_ASID = 0x21,
	ISIM_SMMU_OP_TLBI_EL2_VA = 0x22,
	ISIM_SMMU_OP_TLBI_EL2_VAA = 0x23,
	ISIM_SMMU_OP_TLBI_S12_VMALL = 0x28,
	ISIM_SMMU_OP_TLBI_S2_IPA = 0x2a,
	ISIM_SMMU_OP_TLBI_NSNH_ALL = 0x30,
	ISIM_SMMU_OP_ATC_INV = 0x40,
	ISIM_SMMU_OP_PRI_RESP = 0x41,
	ISIM_SMMU_OP_RESUME = 0x44,
	ISIM_SMMU_OP_STALL_TERM = 0x45,
	ISIM_SMMU_OP_CMD_SYNC = 0x46,
};

/* CONS.ERR codes (CERROR); 4 exists only in the Tegra241 CMDQV headers. */
enum isim_smmu_cerror {
	ISIM_SMMU_CERROR_NONE = 0,
	ISIM_SMMU_CERROR_ILL = 1,
	ISIM_SMMU_CERROR_ABT = 2,
	ISIM_SMMU_CERROR_ATC_INV_SYNC = 3,
	ISIM_SMMU_CERROR_ILL_ACCESS = 4,
};

#define ISIM_SMMU_SYNC_CS_NONE 0u
#define ISIM_SMMU_SYNC_CS_IRQ 1u
#define ISIM_SMMU_SYNC_CS_SEV 2u
#define ISIM_SMMU_CFGI_RANGE_ALL 31u
#define ISIM_SMMU_ATC_SIZE_ALL 52u

/*
 * One command with its fields unpacked.  Only the fields the opcode defines
 * are encoded or filled in by decode; the others are ignored or left zero.
 * Addresses are byte addresses (ADDR and IPA keep bits 63:12, MSIADDR bits
 * 51:2).  `size` is ATC_INV's SIZE or PREFETCH_ADDR's size; `range` is
 * CFGI_STE_RANGE's.  `resp` is PRI_RESP's or RESUME's response.
 */
struct isim_smmu_cmd {
	uint8_t op;
	bool ssec, ssv, leaf, global;
	uint32_t sid;
	uint32_t ssid;
	uint16_t vmid, asid;
	uint8_t num, scale, ttl, tg;
	uint64_t addr;
	uint8_t size, range;
	uint8_t cs, msh, msiattr;
	uint32_t msidata;
	uint64_t msiaddr;
	uint16_t grpid, stag;
	uint8_t resp;
};

/* True for the opcodes listed above (the ones SMMUv3 defines for us). */
bool isim_smmu_op_known(unsigned op);
/* "TLBI_NH_VA", ...; "UNKNOWN" otherwise.  For traces and test messages. */
const char *isim_smmu_op_name(unsigned op);

/* Pack @cmd into CPU-order dwords: 0, or -EINVAL for an unknown opcode or a
 * field value that does not fit its bits. */
int isim_smmu_cmd_encode(const struct isim_smmu_cmd *cmd, uint64_t dw[2]);
/* Unpack CPU-order dwords: 0, or -EINVAL for an unknown opcode (cmd->op is
 * still set so the caller can report it). */
int isim_smmu_cmd_decode(const uint64_t dw[2], struct isim_smmu_cmd *cmd);
/*
 * The "strict field" rules the kernel's software vSMMU path applies to
 * guest commands: bits no field of this opcode defines are RES0, TLBI
 * range fields need TG, the all-zero NUM/SCALE/TTL range is reserved, ATC
 * SIZE is at most 52.  0 or -EINVAL.
 */
int isim_smmu_cmd_check_fields(const uint64_t dw[2]);

/*
 * Entries in memory are little-endian; these convert one 16-byte slot.
 * Inline: a producer and a consumer do this once per command, and on a
 * little-endian host it is a plain 16-byte copy.
 */
static inline void isim_smmu_cmd_to_le(const uint64_t dw[2], void *slot)
{
	uint64_t le[2] = { htole64(dw[0]), htole64(dw[1]) };

	memcpy(slot, le, sizeof(le));
}

static inline void isim_smmu_cmd_from_le(const void *slot, uint64_t dw[2])
{
	uint64_t le[2];

	memcpy(le, slot, sizeof(le));
	dw[0] = le64toh(le[0]);
	dw[1] = le64toh(le[1]);
}

/* Shorthands for the commands a guest actually sends; they cannot fail
 * for in-range arguments and return the encode result otherwise. */
int isim_smmu_tlbi_nh_all(uint64_t dw[2], uint16_t vmid);
int isim_smmu_tlbi_nh_asid(uint64_t dw[2], uint16_t vmid, uint16_t asid);
int isim_smmu_tlbi_nh_va(uint64_t dw[2], uint16_t vmid, uint16_t asid,
			 uint64_t va, bool leaf);
int isim_smmu_tlbi_nh_vaa(uint64_t dw[2], uint16_t vmid, uint64_t va,
			  bool leaf);
int isim_smmu_atc_inv(uint64_t dw[2], uint32_t sid, uint64_t addr,
		      unsigned size_log2);
int isim_smmu_cmd_sync(uint64_t dw[2], unsigned cs);
int isim_smmu_cfgi_ste(uint64_t dw[2], uint32_t sid, bool leaf);

/* ------------------------------------------------- VCMDQ register window */

/*
 * One VCMDQ's registers, as slot `lidx` of a VINTF logical page (or slot q
 * of the direct pages): page0 holds the guest-facing control/status words,
 * page1 the host-programmed base.  Offsets are bytes within the slot.
 */
#define ISIM_VCMDQ_SLOT_STRIDE 0x80u

#define ISIM_VCMDQ_CONS 0x00u
#define ISIM_VCMDQ_PROD 0x04u
#define ISIM_VCMDQ_CONFIG 0x08u
#define ISIM_VCMDQ_STATUS 0x0cu
#define ISIM_VCMDQ_GERROR 0x10u
#define ISIM_VCMDQ_GERRORN 0x14u

#define ISIM_VCMDQ_PTR_MASK 0x000fffffu		/* CONS.RD / PROD.WR */
#define ISIM_VCMDQ_CONS_ERR_SHIFT 24
#define ISIM_VCMDQ_CONS_ERR_MASK (0x7fu << ISIM_VCMDQ_CONS_ERR_SHIFT)
#define ISIM_VCMDQ_EN 0x1u			/* CONFIG and STATUS bit 0 */
#define ISIM_VCMDQ_GERROR_CMDQ_ERR 0x1u
#define ISIM_VCMDQ_GERROR_CONS_DRAM_ABT 0x2u
#define ISIM_VCMDQ_GERROR_INIT_ERR 0x4u
#define ISIM_VCMDQ_GERROR_ALL 0x7u

#define ISIM_VCMDQ_BASE 0x00u			/* page1, 64 bits */
#define ISIM_VCMDQ_CONS_INDX_BASE 0x08u		/* page1, 64 bits */
#define ISIM_VCMDQ_BASE_ADDR_MASK 0x0000ffffffffffe0ull	/* bits 47:5 */
#define ISIM_VCMDQ_BASE_LOG2SIZE_MASK 0x1full
#define ISIM_VCMDQ_LOG2SIZE_MAX 19u

/* The register word at @off of the slot at @slot (page base + stride). */
static inline uint32_t *isim_vcmdq_reg(void *slot, unsigned off)
{
	return (uint32_t *)((char *)slot + off);
}

static inline uint64_t *isim_vcmdq_reg64(void *slot, unsigned off)
{
	return (uint64_t *)((char *)slot + off);
}

/* ------------------------------------------------------ guest-side view */

/*
 * Called between two polls of a register; a stepped-mode caller passes a
 * function that runs the model, a threaded caller NULL (which yields).
 */
typedef void (*isim_vcmdq_kick_fn)(void *arg);

struct isim_vcmdq_guest {
	uint32_t *regs;		/* this queue's page0 slot */
	uint8_t *ring;		/* where slot 0 of the ring lives, host view */
	unsigned log2size;
	uint32_t prod;		/* the producer's own WR pointer (wrap | idx) */
	isim_vcmdq_kick_fn kick;
	void *kick_arg;
	unsigned long max_polls;	/* 0: poll forever */
};

/*
 * Attach to slot @lidx of a VINTF page0 and a ring of 2^@log2size entries
 * at @ring.  The producer pointer starts at the current PROD.
 */
void isim_vcmdq_guest_init(struct isim_vcmdq_guest *g, void *page0,
			   unsigned lidx, void *ring, unsigned log2size);

/* CONFIG.EN := @en, then poll STATUS.ENABLED: 0 or -ETIMEDOUT. */
int isim_vcmdq_guest_enable(struct isim_vcmdq_guest *g, bool en);
bool isim_vcmdq_guest_enabled(struct isim_vcmdq_guest *g);

/* CONS as published by the consumer (acquire). */
uint32_t isim_vcmdq_guest_cons(struct isim_vcmdq_guest *g);
/* Slots the producer may fill without overwriting unconsumed ones. */
unsigned isim_vcmdq_guest_space(struct isim_vcmdq_guest *g);
/* Write one entry at the producer pointer and advance it (PROD is not
 * written): 0, or -ENOSPC when the ring is full. */
int isim_vcmdq_guest_push(struct isim_vcmdq_guest *g, const uint64_t dw[2]);
/*
 * Overwrite slot @idx in place: what a producer does for every command it
 * queues (and the error handler's fix-up).  Inline, as a driver's queue
 * write is: a call per command would cost more than the store.
 */
static inline void isim_vcmdq_guest_write_slot(struct isim_vcmdq_guest *g,
					       unsigned idx,
					       const uint64_t dw[2])
{
	idx &= (1u << g->log2size) - 1;
	isim_smmu_cmd_to_le(dw, g->ring + ((size_t)idx << ISIM_SMMU_CMD_SHIFT));
}

/* Doorbell: PROD := producer pointer, release, so entries are visible. */
static inline void isim_vcmdq_guest_publish(struct isim_vcmdq_guest *g)
{
	__atomic_store_n(isim_vcmdq_reg(g->regs, ISIM_VCMDQ_PROD), g->prod,
			 __ATOMIC_RELEASE);
}
/* Push a CMD_SYNC (CS=NONE) and publish; *@ptr gets the sync's pointer. */
int isim_vcmdq_guest_sync(struct isim_vcmdq_guest *g, uint32_t *ptr);
/* Has CONS moved past the entry at @ptr?  Wrap-aware, as Linux checks. */
bool isim_vcmdq_guest_consumed(struct isim_vcmdq_guest *g, uint32_t ptr);
/* Poll until the entry at @ptr is consumed: 0, -EIO when CMDQ_ERR is
 * active first, -ETIMEDOUT after max_polls. */
int isim_vcmdq_guest_wait(struct isim_vcmdq_guest *g, uint32_t ptr);

/* Is GERROR.CMDQ_ERR active?  If so *@cerror and *@rd get CONS.ERR/RD. */
bool isim_vcmdq_guest_error(struct isim_vcmdq_guest *g, unsigned *cerror,
			    uint32_t *rd);
/* GERROR bits currently active (GERROR ^ GERRORN). */
uint32_t isim_vcmdq_guest_gerror_active(struct isim_vcmdq_guest *g);
/* Acknowledge everything: GERRORN := GERROR, release. */
void isim_vcmdq_guest_ack(struct isim_vcmdq_guest *g);
/*
 * What Linux's error handler does before acknowledging: for ILL (and any
 * code it does not know, such as ILL_ACCESS) it replaces the failing entry
 * with a CMD_SYNC (CS=NONE); ABT and ATC_INV_SYNC are retried as they are.
 * Then acknowledges.  Returns the
 * CERROR code handled, or 0 when no error was active.
 */
unsigned isim_vcmdq_guest_skip_error(struct isim_vcmdq_guest *g);

#endif
