/* admin.c: FastCGI/CGI program: admin API and health check (/push/admin/..., /push/health) */
#include "pl_first.h"

#include "pl_serve.h"

int main(int argc, char **argv)
{
	return pl_serve_main(PL_PROG_ADMIN, "pushlite-admin", argc, argv);
}
