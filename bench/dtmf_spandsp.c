/* spandsp's DTMF receiver as a peer for bench/dtmf_bench.py.
 *
 *   dtmf_spandsp FILE.raw            print the digits in 8 kHz s16le mono
 *   dtmf_spandsp FILE.raw PASSES     also time PASSES runs in 160-sample
 *                                    frames; print "seconds_per_pass" to stderr
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <spandsp.h>

static char digits[4096];
static int ndigits;

static void on_digits(void *user, const char *d, int len)
{
    (void) user;
    for (int i = 0; i < len && ndigits < (int) sizeof(digits) - 1; i++)
        digits[ndigits++] = d[i];
}

static void run(const int16_t *pcm, long n)
{
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, NULL);
    ndigits = 0;
    for (long i = 0; i < n; i += 160)
        dtmf_rx(rx, pcm + i, (n - i < 160) ? (int) (n - i) : 160);
    dtmf_rx_free(rx);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.raw [PASSES]\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / 2;
    fseek(f, 0, SEEK_SET);
    int16_t *pcm = malloc((n + 1) * sizeof(int16_t));
    if (fread(pcm, 2, n, f) != (size_t) n) {
        fprintf(stderr, "%s: short read\n", argv[1]);
        return 1;
    }
    fclose(f);
    run(pcm, n);
    digits[ndigits] = 0;
    printf("%s\n", digits);
    if (argc > 2) {
        int passes = atoi(argv[2]);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int p = 0; p < passes; p++)
            run(pcm, n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fprintf(stderr, "%.9f\n", ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9) / passes);
    }
    free(pcm);
    return 0;
}
