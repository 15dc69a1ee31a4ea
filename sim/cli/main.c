/*
 * iommufd-sim: the command-line program.  It plays stories against the
 * simulator and shows what happens inside; this is the only part of the
 * project that prints.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/iommufd.h>

#include "iommufd-sim/sim.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: iommufd-sim COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  demo        play the built-in walk through the object table\n"
		"  help        this text\n"
		"  version     print the version\n");
}

static void print_row(void *arg, const struct isim_object_info *o)
{
	(void)arg;
	if (o->type)
		printf("    %4u  %-12s users=%d wait_cnt=%d\n", o->id, o->type,
		       o->users, o->wait_cnt);
	else
		printf("    %4u  (reserved)\n", o->id);
}

static void show_table(const char *who, struct isim_fd *fd)
{
	printf("  object table of %s:\n", who);
	isim_for_each_object(fd, print_row, NULL);
}

static int ioas_alloc(struct isim_fd *fd, uint32_t *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = isim_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	*id = cmd.out_ioas_id;
	printf("  IOMMU_IOAS_ALLOC -> %s, id %u\n", rc ? strerror(-rc) : "ok",
	       rc ? 0 : *id);
	return rc;
}

static int destroy(struct isim_fd *fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };
	int rc = isim_ioctl(fd, IOMMU_DESTROY, &cmd);

	printf("  IOMMU_DESTROY %u -> %s\n", id, rc ? strerror(-rc) : "ok");
	return rc;
}

static int demo(void)
{
	struct isim_machine *m;
	struct isim_fd *a, *b;
	uint32_t id;
	char report[1024];
	int rc;

	rc = isim_machine_new(NULL, &m);
	if (rc) {
		fprintf(stderr, "iommufd-sim: machine: %s\n", strerror(-rc));
		return 1;
	}
	printf("1. Two contexts: each open of /dev/iommu has its own table.\n");
	isim_open(m, &a);
	isim_open(m, &b);
	printf("2. IDs are the lowest free ones, starting at 1.\n");
	ioas_alloc(a, &id);
	ioas_alloc(a, &id);
	ioas_alloc(a, &id);
	ioas_alloc(b, &id);
	show_table("context A", a);
	show_table("context B", b);
	printf("3. A destroyed ID is reused by the very next object.\n");
	destroy(a, 2);
	show_table("context A", a);
	ioas_alloc(a, &id);
	printf("4. Unknown IDs are ENOENT.\n");
	destroy(a, 42);
	printf("5. Closing a context destroys what it still holds.\n");
	isim_close(a);
	isim_close(b);
	rc = isim_check(m, report, sizeof(report));
	printf("invariants: %s\n", rc ? report : "all hold");
	isim_machine_free(m);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "help";

	if (!strcmp(cmd, "demo"))
		return demo();
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("%s\n", PACKAGE_STRING);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "iommufd-sim: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
