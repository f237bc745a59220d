/* spandsp's G.168 line echo canceller as a peer for bench/echo_bench.py.
 *
 *   echo_spandsp TAPS MODE TX.raw RX.raw OUT.raw
 *
 * TX is what the box sent, RX what the line heard (8 kHz s16le mono, the
 * same length); OUT gets RX with the echo cancelled. MODE is spandsp's
 * adaption-mode bit mask. Prints the CPU seconds of the cancelling loop
 * to stderr. spandsp 0.0.6 prints debug lines from echo_can_update on
 * stdout; send stdout to /dev/null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <spandsp.h>

static int16_t *load(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *n = ftell(f) / 2;
    fseek(f, 0, SEEK_SET);
    int16_t *pcm = malloc((*n + 1) * sizeof(int16_t));
    if (fread(pcm, 2, *n, f) != (size_t) *n) {
        fprintf(stderr, "%s: short read\n", path);
        exit(1);
    }
    fclose(f);
    return pcm;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s TAPS MODE TX.raw RX.raw OUT.raw\n", argv[0]);
        return 2;
    }
    long ntx, nrx;
    int16_t *tx = load(argv[3], &ntx);
    int16_t *rx = load(argv[4], &nrx);
    long n = ntx < nrx ? ntx : nrx;
    int16_t *out = malloc((n + 1) * sizeof(int16_t));
    echo_can_state_t *ec = echo_can_init(atoi(argv[1]), atoi(argv[2]));
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < n; i++)
        out[i] = echo_can_update(ec, tx[i], rx[i]);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    echo_can_free(ec);
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(out, 2, n, f) != (size_t) n) {
        perror(argv[5]);
        return 1;
    }
    fclose(f);
    fprintf(stderr, "%.9f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
