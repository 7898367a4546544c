/* server.c: placeholder until the module lands. */
typedef int ledger_placeholder_server;
