/*
 * The scenario runner's state, shared by scenario.c (playing a script:
 * names, variables, the trace sink, machines, verdicts) and verbs.c (what
 * each verb does).  Private to sim/cli.
 */
#ifndef ISIM_CLI_RUNNER_H
#define ISIM_CLI_RUNNER_H

#include <pthread.h>

#include "sim/cli/cli.h"

struct named {
	char *name;
	void *ptr;
};

struct var {
	char *name;
	uint64_t value;
};

/* Program memory a scenario may poke, peek and DMA into. */
struct region {
	uintptr_t va;
	size_t len;
	struct isim_fd *mmap_fd;	/* NULL: from `mem` */
};

struct runner {
	const struct scn_script *sc;
	const struct cli_opts *opts;
	const struct scn_stmt *st;
	FILE *out;
	struct isim_machine *m;
	unsigned machine_no;
	uint64_t page_size;
	struct named *fds, *iommus, *devices;
	unsigned nfds, niommus, ndevices;
	struct var *vars;
	unsigned nvars;
	struct region *regions;
	unsigned nregions;
	/* What the scenario's VMM did that its guest relies on (vendor.c). */
	struct cli_vmm *vmm;
	/* Everything the trace sink touches, which model threads may call. */
	pthread_mutex_t lock;
	struct cli_mirror *mirror;
	struct isim_fd *cur_fd;
	struct cli_event *ev;
	size_t nev, evcap;
	bool collecting;
};

#define IND "    "

/* An ioctl's argument struct, and the field a bare `-> VAR` binds. */
struct ioctl_result {
	uint64_t buf[64];	/* larger than any iommufd struct */
	const struct cli_field *shown;
};

/* scenario.c */
void run_error(struct runner *r, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void run_print_value(FILE *f, uint64_t v);
struct named *run_named_find(struct named *v, unsigned n, const char *name);
void run_named_add(struct named **v, unsigned *n, const char *name,
		   void *ptr);
void run_var_set(struct runner *r, const char *name, uint64_t value);
bool run_eval(struct runner *r, const char *s, unsigned col,
	      const struct cli_sym *syms, uint64_t *v);
bool run_eval_tok(struct runner *r, unsigned i, uint64_t *v);
struct isim_fd *run_fd(struct runner *r, unsigned i);
int run_machine_start(struct runner *r,
		      const struct isim_machine_config *cfg);

/* verbs.c: 0 or -errno from the simulator, 1 if already reported. */
int run_execute(struct runner *r, struct ioctl_result *res,
		uint64_t *result);
uint64_t run_field_load(const void *buf, const struct cli_field *f);

/* vendor.c: the cmdqv and amd verbs, `show queue`, and the record of
 * the ioctls they rely on. */
int run_vendor(struct runner *r, uint64_t *result);
int show_queue(struct runner *r, struct isim_fd *fd, unsigned col,
	       uint32_t id);
void vmm_note_ioctl(struct runner *r, struct isim_fd *fd,
		    unsigned long request, const void *buf);
void vmm_forget_fd(struct runner *r, struct isim_fd *fd);
void vmm_reset(struct runner *r);

#endif
