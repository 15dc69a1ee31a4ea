/*
 * --explain: the trace events one scenario line caused, told as
 * sentences, in the order the state machine took its steps.  Each trace
 * point has one sentence built from its key=value arguments; runs of
 * pages.pin or pages.unpin events fold into one sentence; once a step
 * reports a failure (rc != 0, a non-contiguous verdict) the sentences
 * that follow are marked as the unwinding of what came before.  The
 * vendor drivers' points (cmdqv.*, amd.*) have sentences too.  Points
 * without a sentence are shown as they are, so nothing is hidden.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "sim/cli/cli.h"

struct tell {
	FILE *out;
	const char *indent;
	bool failed;		/* a step failed: what follows undoes */
	bool steps;		/* events since the last ioctl.enter */
	char variant[8];	/* of the HW queue being allocated */
};

static void say(struct tell *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct tell *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(t->out, "%s%s", t->indent, t->failed ? "undo: " : "");
	va_start(ap, fmt);
	vfprintf(t->out, fmt, ap);
	va_end(ap);
	fputc('\n', t->out);
}

static const char *errname(int rc)
{
	const char *n = cli_errno_name(rc < 0 ? -rc : rc);

	return n ? n : "an error";
}

static uint64_t u(const char *args, const char *key)
{
	uint64_t v = 0;

	cli_arg_u64(args, key, &v);
	return v;
}

static const char *s(const char *args, const char *key, char *buf,
		     size_t len)
{
	if (!cli_arg_str(args, key, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* A run of pages.pin or pages.unpin events, as one sentence. */
static size_t tell_pins(struct tell *t, const struct cli_event *ev,
			size_t n)
{
	const char *point = ev[0].point;
	char runs[256] = "";
	uint64_t frames = 0;
	size_t i, used = 0;

	for (i = 0; i < n && !strcmp(ev[i].point, point); i++) {
		uint64_t pfn = u(ev[i].args, "pfn"), cnt = u(ev[i].args, "n");

		frames += cnt;
		if (i < 3 && cnt == 1)
			used += (size_t)snprintf(runs + used, sizeof(runs) - used,
						 "%s0x%" PRIx64, i ? ", " : "",
						 pfn);
		else if (i < 3)
			used += (size_t)snprintf(runs + used, sizeof(runs) - used,
						 "%s0x%" PRIx64 "-0x%" PRIx64,
						 i ? ", " : "", pfn,
						 pfn + cnt - 1);
		else if (i == 3)
			snprintf(runs + used, sizeof(runs) - used, ", ...");
	}
	if (!strcmp(point, "pages.pin"))
		say(t, "%" PRIu64 " frame%s pinned in %zu physically contiguous run%s (pfn %s)",
		    frames, frames == 1 ? "" : "s", i, i == 1 ? "" : "s", runs);
	else
		say(t, "%" PRIu64 " frame%s unpinned (pfn %s)", frames,
		    frames == 1 ? "" : "s", runs);
	return i;
}

static void tell_obj(struct tell *t, const char *point, const char *a)
{
	char type[32], res[16], why[32], by[16];

	s(a, "type", type, sizeof(type));
	if (!strcmp(point, "obj.reserve")) {
		say(t, "ID %" PRIu64 " reserved for a new %s (invisible to lookups until published)",
		    u(a, "id"), type);
	} else if (!strcmp(point, "obj.finalize")) {
		say(t, "%s %" PRIu64 " published in the object table", type,
		    u(a, "id"));
	} else if (!strcmp(point, "obj.abort")) {
		say(t, "%s %" PRIu64 " aborted: ID %" PRIu64 " is free again",
		    type, u(a, "id"), u(a, "id"));
	} else if (cli_arg_str(a, "result", res, sizeof(res))) {
		if (cli_arg_str(a, "why", why, sizeof(why)))
			say(t, "destroy of ID %" PRIu64 " refused with %s: a short-term reference did not go away (%s)",
			    u(a, "id"), res, why);
		else if (!strcmp(res, "EBUSY"))
			say(t, "destroy of ID %" PRIu64 " refused with EBUSY: other objects or pins still hold it (users > 1)",
			    u(a, "id"));
		else
			say(t, "destroy of ID %" PRIu64 " refused with %s: no such object",
			    u(a, "id"), res);
	} else {
		say(t, "%s %" PRIu64 " destroyed%s%s", type, u(a, "id"),
		    cli_arg_str(a, "by", by, sizeof(by)) ? " as the fd closes" : "",
		    cli_arg_int(a, "tombstone", 0) ? "; its ID stays reserved as a tombstone" : "");
	}
}

static void tell_hw_queue(struct tell *t, const char *point, const char *a)
{
	char buf[32];
	int rc = cli_arg_int(a, "rc", 0);

	if (!strcmp(point, "hw_queue.checks")) {
		s(a, "variant", t->variant, sizeof(t->variant));
		say(t, "checks passed: flags 0, type 0x%" PRIx64 ", length 0x%" PRIx64 " != 0, IOVA 0x%" PRIx64 " + length does not overflow; vIOMMU %" PRIu64 " found",
		    u(a, "type"), u(a, "length"), u(a, "iova"), u(a, "viommu"));
		if (!strcmp(t->variant, "phys"))
			say(t, "its driver has hw_queue_init_phys: the queue memory will be pinned and must be physically contiguous");
		else
			say(t, "its driver has only the IOVA-variant hw_queue_init: the hardware translates through the nesting parent, nothing is pinned");
	} else if (!strcmp(point, "hw_queue.span")) {
		uint64_t iova = u(a, "iova"), off = u(a, "offset");
		bool v8 = !strcmp(s(a, "rounding", buf, sizeof(buf)), "v8");

		if (rc && v8)
			say(t, "v8 rounding: offset = iova - PAGE_ALIGN(iova) = 0x%" PRIx64 " wraps below zero for an unaligned IOVA, so offset + length overflows: %s",
			    off, errname(rc));
		else if (rc)
			say(t, "rounding the queue to whole pages overflows: %s",
			    errname(rc));
		else
			say(t, "%s rounding: pin 0x%" PRIx64 " bytes from IOVA 0x%" PRIx64 "; the queue starts 0x%" PRIx64 " bytes into its first page",
			    v8 ? "v8" : "merged", u(a, "pin_length"),
			    v8 ? iova : iova - off, v8 ? 0 : off);
	} else if (!strcmp(point, "hw_queue.access")) {
		say(t, "internal access %" PRIu64 " created; it attaches to the nesting parent's IOAS",
		    u(a, "access_id"));
	} else if (!strcmp(point, "hw_queue.pin")) {
		if (rc)
			say(t, "pinning %" PRIu64 " page(s) at IOVA 0x%" PRIx64 " failed: %s%s",
			    u(a, "npages"), u(a, "iova"), errname(rc),
			    rc == -ENOENT ? " (nothing is mapped there)" : "");
		else
			say(t, "%" PRIu64 " page(s) at IOVA 0x%" PRIx64 " pinned through the access; those areas are locked: IOAS_UNMAP of them answers EBUSY while the queue lives",
			    u(a, "npages"), u(a, "iova"));
	} else if (!strcmp(point, "hw_queue.contig")) {
		s(a, "algo", buf, sizeof(buf));
		if (cli_arg_int(a, "contiguous", 0))
			say(t, "contiguity verdict (%s check): physically contiguous; base_pa = 0x%" PRIx64,
			    buf, u(a, "base_pa"));
		else
			say(t, "contiguity verdict (%s check): NOT physically contiguous: EFAULT",
			    buf);
	} else if (!strcmp(point, "hw_queue.driver_init")) {
		bool phys = !strcmp(t->variant, "phys");

		if (rc)
			say(t, "the driver's %s(index %" PRIu64 ") refused the queue: %s",
			    phys ? "hw_queue_init_phys" : "hw_queue_init",
			    u(a, "index"), errname(rc));
		else if (phys)
			say(t, "the driver's hw_queue_init_phys(index %" PRIu64 ", base_pa 0x%" PRIx64 ") set the queue up",
			    u(a, "index"), u(a, "base_pa"));
		else
			say(t, "the driver's hw_queue_init(index %" PRIu64 ") set the queue up; nothing was pinned",
			    u(a, "index"));
	} else {
		say(t, "%s: %s", point, a);
	}
	if (rc || (!strcmp(point, "hw_queue.contig") &&
		   !cli_arg_int(a, "contiguous", 1)))
		t->failed = true;
}

static void tell_other(struct tell *t, const char *point, const char *a)
{
	char b1[64], b2[64];
	int rc = cli_arg_int(a, "rc", 0);

	if (!strcmp(point, "ioctl.enter")) {
		say(t, "%s: the dispatcher accepts the %" PRIu64 "-byte struct and copies it in",
		    s(a, "cmd", b1, sizeof(b1)), u(a, "size"));
	} else if (!strcmp(point, "ioctl.exit")) {
		bool failed = t->failed;

		/* The verdict itself is no undo step. */
		t->failed = false;
		if (rc && !t->steps)
			say(t, "%s fails with %s in its checks, before anything changed: nothing to undo",
			    s(a, "cmd", b1, sizeof(b1)), errname(rc));
		else if (rc)
			say(t, "%s fails with %s", s(a, "cmd", b1, sizeof(b1)),
			    errname(rc));
		t->failed = failed;
	} else if (!strcmp(point, "iopt.area_insert")) {
		say(t, "area [0x%" PRIx64 ", 0x%" PRIx64 "] claimed in IOAS %" PRIu64,
		    u(a, "iova"), u(a, "last"), u(a, "ioas"));
	} else if (!strcmp(point, "iopt.area_remove")) {
		say(t, "area [0x%" PRIx64 ", 0x%" PRIx64 "] %s IOAS %" PRIu64,
		    u(a, "iova"), u(a, "last"),
		    strcmp(s(a, "why", b1, sizeof(b1)), "abort") ?
			    "unmapped from" : "given back by the failed map in",
		    u(a, "ioas"));
	} else if (!strcmp(point, "iopt.unmap_busy")) {
		say(t, "area [0x%" PRIx64 ", 0x%" PRIx64 "] of IOAS %" PRIu64 " is locked by %" PRIu64 " internal pin%s (a HW queue's access): EBUSY",
		    u(a, "iova"), u(a, "last"), u(a, "ioas"), u(a, "locks"),
		    u(a, "locks") == 1 ? "" : "s");
	} else if (!strcmp(point, "device.attach")) {
		say(t, "device %s (dev_id %" PRIu64 ") attached to HWPT %" PRIu64,
		    s(a, "dev", b1, sizeof(b1)), u(a, "dev_id"), u(a, "hwpt"));
	} else if (!strcmp(point, "warn")) {
		say(t, "kernel WARN: %s at %s", s(a, "cond", b1, sizeof(b1)),
		    s(a, "at", b2, sizeof(b2)));
	} else if (!strcmp(point, "mm.dma_fault")) {
		say(t, "DMA to PA 0x%" PRIx64 " hit a frame that is not allocated: a use after free",
		    u(a, "pa"));
	} else if (!strcmp(point, "mm.bad_release")) {
		say(t, "bad release of pfn 0x%" PRIx64 " (%s)", u(a, "pfn"),
		    s(a, "op", b1, sizeof(b1)));
	} else if (!strcmp(point, "mmap.register")) {
		say(t, "vIOMMU %" PRIu64 " offers an mmap region: offset 0x%" PRIx64 ", 0x%" PRIx64 " bytes",
		    u(a, "viommu"), u(a, "offset"), u(a, "length"));
	} else if (!strcmp(point, "mmap.unregister")) {
		say(t, "vIOMMU %" PRIu64 " withdraws its mmap region at 0x%" PRIx64,
		    u(a, "viommu"), u(a, "offset"));
	} else if (!strcmp(point, "mmap.map")) {
		say(t, "mmap of offset 0x%" PRIx64 ": %s", u(a, "offset"),
		    rc ? errname(rc) : "mapped; the vIOMMU is held while it lives");
	} else if (!strcmp(point, "mmap.unmap")) {
		say(t, "munmap: %s", rc ? errname(rc) : "done");
	} else if (!strcmp(point, "fd.open") || !strcmp(point, "fd.close")) {
		say(t, "event fd %" PRIu64 " of %s %" PRIu64 " %s", u(a, "fd"),
		    s(a, "type", b1, sizeof(b1)), u(a, "id"),
		    point[3] == 'o' ? "opened" : "closed");
	} else if (!strcmp(point, "veventq.report")) {
		say(t, "vEVENTQ %" PRIu64 " queues event #%" PRIu64 " (type 0x%" PRIx64 ")%s",
		    u(a, "id"), u(a, "seq"), u(a, "type"),
		    cli_arg_int(a, "lost", 0) ? "; the queue was full, events were lost" : "");
	} else if (!strcmp(point, "veventq.read")) {
		say(t, "read of vEVENTQ %" PRIu64 ": %" PRIu64 " bytes", u(a, "id"),
		    u(a, "done"));
	} else if (!strcmp(point, "ctx.open") || !strcmp(point, "ctx.close")) {
		say(t, "iommufd context %s", point[4] == 'o' ? "opened" :
							     "closed");
	} else {
		say(t, "%s: %s", point, a);
	}
	if (rc && strcmp(point, "ioctl.exit"))
		t->failed = true;
}

/* The vendor drivers (cmdqv.*, amd.*) and the AMD model they run. */
static void tell_vendor(struct tell *t, const char *point, const char *a)
{
	static const char *const amd_cmds[] = {
		"opcode 0", "COMPLETION_WAIT", "INV_DEVTAB_ENTRY",
		"INV_IOMMU_PAGES", "INV_IOTLB_PAGES", "INV_INTERRUPT_TABLE",
		"PREFETCH_IOMMU_PAGES", "COMPLETE_PPR_REQUEST", "INV_IOMMU_ALL",
	};
	static const char *const amd_events[] = {
		"event 0", "ILLEGAL_DEV_TABLE_ENTRY", "IO_PAGE_FAULT",
		"DEV_TAB_HARDWARE_ERROR", "PAGE_TAB_HARDWARE_ERROR",
		"ILLEGAL_COMMAND_ERROR", "COMMAND_HARDWARE_ERROR",
		"IOTLB_INV_TIMEOUT", "INVALID_DEVICE_REQUEST",
		"INVALID_PPR_REQUEST",
	};
	static const char *const rings[] = { "command buffer", "event log",
					     "PPR log" };
	char b1[32], b2[48];
	uint64_t op = u(a, "op"), code = u(a, "code"), ring = u(a, "ring");
	int rc = cli_arg_int(a, "rc", 0);

	if (!strcmp(point, "cmdqv.viommu")) {
		say(t, "the CMDQV driver gives vIOMMU %" PRIu64 " VINTF %" PRIu64 " with VMID 0x%" PRIx64 "; its page0 is offered for mmap at offset 0x%" PRIx64,
		    u(a, "viommu"), u(a, "vintf"), u(a, "vmid"),
		    u(a, "mmap_offset"));
	} else if (!strcmp(point, "cmdqv.hw_queue")) {
		say(t, "VCMDQ %" PRIu64 " allocated to the VINTF as its LVCMDQ %" PRIu64 "; BASE = 0x%" PRIx64 " (the pinned PA), LOG2SIZE %" PRIu64,
		    u(a, "vcmdq"), u(a, "lidx"), u(a, "base_pa"),
		    u(a, "log2size"));
	} else if (!strcmp(point, "cmdqv.hw_queue_destroy")) {
		say(t, "VCMDQ %" PRIu64 " (LVCMDQ %" PRIu64 ") disabled, its BASE cleared and taken back from the VINTF",
		    u(a, "vcmdq"), u(a, "lidx"));
	} else if (!strcmp(point, "cmdqv.viommu_destroy")) {
		say(t, "VINTF %" PRIu64 " of vIOMMU %" PRIu64 " disabled and given back",
		    u(a, "vintf"), u(a, "viommu"));
	} else if (!strcmp(point, "cmdqv.vevent")) {
		/* map=HIGH:LOW, the two 64-bit halves; most maps fit LOW. */
		char *lo = strchr(s(a, "map", b2, sizeof(b2)), ':');

		if (lo)
			*lo++ = '\0';
		say(t, "VINTF %" PRIu64 " raises an error (LVCMDQ_ERR_MAP %s%s%s): %s",
		    u(a, "vintf"), lo && strcmp(b2, "0") ? b2 : "",
		    lo && strcmp(b2, "0") ? ":" : "", lo ? lo : b2,
		    rc ? "no vEVENTQ took it, the event is dropped" :
			 "the driver reports it as a vEVENT");
	} else if (!strcmp(point, "amd.viommu")) {
		say(t, "the AMD driver gives vIOMMU %" PRIu64 " guest ID %" PRIu64 "; its VF page is offered for mmap",
		    u(a, "viommu"), u(a, "gid"));
	} else if (!strcmp(point, "amd.hw_queue")) {
		if (rc)
			say(t, "the %s was not programmed: %s",
			    ring < 3 ? rings[ring] : "ring", errname(rc));
		else
			say(t, "the %s is the guest's ring at GPA 0x%" PRIx64 " (length 0x%" PRIx64 "); the hardware will reach it through the nesting parent",
			    ring < 3 ? rings[ring] : "ring", u(a, "gpa"),
			    u(a, "length"));
		if (rc)
			t->failed = true;
	} else if (!strcmp(point, "amd.ring.program")) {
		say(t, "VFCTRL: the %s ring's base = GPA 0x%" PRIx64 ", length code %" PRIu64,
		    s(a, "ring", b1, sizeof(b1)), u(a, "gpa"), u(a, "len"));
	} else if (!strcmp(point, "amd.ring.flags")) {
		say(t, "VFCTRL: the %s ring's flags = 0x%" PRIx64 ", %s",
		    s(a, "ring", b1, sizeof(b1)), u(a, "flags"),
		    cli_arg_int(a, "run", 0) ? "running" : "stopped");
	} else if (!strcmp(point, "amd.cmd")) {
		say(t, "guest %" PRIu64 "'s %s executed; head = 0x%" PRIx64,
		    u(a, "gid"), op < 9 ? amd_cmds[op] : "command", u(a, "head"));
	} else if (!strcmp(point, "amd.cmd.halt")) {
		say(t, "the command buffer stops: %s at GPA 0x%" PRIx64 ", head stays 0x%" PRIx64,
		    code < 10 ? amd_events[code] : "an error", u(a, "addr"),
		    u(a, "head"));
	} else if (!strcmp(point, "amd.log")) {
		say(t, "%s written to the guest's %s log; tail = 0x%" PRIx64,
		    code < 10 ? amd_events[code] : "an entry",
		    s(a, "ring", b1, sizeof(b1)), u(a, "tail"));
	} else if (!strcmp(point, "amd.fault")) {
		say(t, "the hardware cannot %s GPA 0x%" PRIx64 ": no translation in the nesting parent",
		    cli_arg_int(a, "write", 0) ? "write" : "read", u(a, "gpa"));
	} else if (!strcmp(point, "amd.host_fault")) {
		say(t, "the host is told of the fault (DeviceID 0x%" PRIx64 "); it stays contained in guest %" PRIu64,
		    u(a, "trans_devid"), u(a, "gid"));
	} else {
		say(t, "%s: %s", point, a);
	}
}

/* Points too fine for a sentence: the pages layer tells the same story. */
static bool quiet_point(const char *point)
{
	return !strncmp(point, "mm.", 3) && strcmp(point, "mm.dma_fault") &&
	       strcmp(point, "mm.bad_release");
}

void explain_events(FILE *out, const char *indent,
		    const struct cli_event *ev, size_t n)
{
	struct tell t = { .out = out, .indent = indent };

	for (size_t i = 0; i < n;) {
		const char *p = ev[i].point;

		if (!strcmp(p, "ioctl.enter"))
			t.steps = false;
		else if (strcmp(p, "ioctl.exit"))
			t.steps = true;
		if (!strcmp(p, "pages.pin") || !strcmp(p, "pages.unpin")) {
			i += tell_pins(&t, &ev[i], n - i);
			continue;
		}
		if (!quiet_point(p)) {
			if (!strncmp(p, "obj.", 4))
				tell_obj(&t, p, ev[i].args);
			else if (!strncmp(p, "hw_queue.", 9))
				tell_hw_queue(&t, p, ev[i].args);
			else if (!strncmp(p, "cmdqv.", 6) ||
				 !strncmp(p, "amd.", 4))
				tell_vendor(&t, p, ev[i].args);
			else
				tell_other(&t, p, ev[i].args);
		}
		i++;
	}
}
