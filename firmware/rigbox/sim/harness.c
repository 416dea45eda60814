// The rig box in simavr: runs the firmware ELF on a simulated ATmega328P at 16 MHz, paced to real time, with
// its UART on a pseudo-terminal (as simavr's examples/parts/uart_pty.c does, but single-threaded and with the
// line timing modelled), its analog inputs driven from stdin and its digital outputs logged on stdout with
// cycle timestamps. Tests and bench/rigbox.ts read the log; the daemon's SerialRigBox opens the pty.
// Like an Arduino Uno, whose USB bridge pulses the reset line when a program opens the port (DTR), the box
// resets every time the host opens the pty, and what it sends while no host has the port open is lost.
//
//   rigbox-sim [--link PATH] [--log-adc] FIRMWARE.elf
//
// stdout, one record a line (cycles count from reset; 16 cycles per microsecond):
//   READY <pty> <hz>            the pty the host opens (and --link PATH points at it)
//   RESET <cycle>               the host opened the pty and the firmware restarted (its clock is 0 again)
//   HANGUP <cycle>              the host closed the pty (a reopen sooner than the next poll goes unnoticed)
//   PORT <B|C|D> <cycle> <hex>  the port register changed (event word, strobe, valve, LED)
//   RX <cycle> <line>           the firmware read a host line's newline from UDR0 (in its receive interrupt)
//   TX <cycle> <line>           a box line's newline left the UART (the host can have it from here on)
//   ADC <cycle> <ch> <mV>       a conversion started on channel ch and held mV (with --log-adc)
//   NOW <cycle>                 answer to "now"
//   LATE <cycle> <wanted>       a scheduled input arrived after its cycle: it, and the inputs scheduled with it,
//                               are delayed by as much (so a pulse keeps its length), until the queue runs dry
// stdin, one command a line:
//   adc <ch> <mV>               set analog input ch (0..7) now
//   at <cycle> adc <ch> <mV>    set it at that cycle (commands in cycle order)
//   now                         print NOW <cycle>
//   quit                        stop (so does the end of stdin)
// The analog inputs are sampled and held when a conversion starts, as the ATmega's ADC does (simavr itself
// reads the value when the firmware reads ADCL).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define MCU "atmega328p"
#define FREQUENCY 16000000u
#define POLL_CYCLES 1600  // 100 us: how often the pty and stdin are read
#define AHEAD_NS 500000  // the simulation may run this far ahead of the wall clock before it sleeps
#define LINE_MAX 256
#define SCHEDULE_MAX 65536
#define TX_QUEUE 4096

static avr_t *avr;
static int pty_master = -1;
static int host_open;      // a host has the pty open (reads on the master do not fail with EIO)
static int reset_pending;  // it just opened it: reset the AVR between two instructions
static char link_path[512];
static int log_adc;

static uint32_t analog_mv[8];
typedef struct {
  uint64_t cycle;
  uint8_t channel;
  uint32_t mv;
} scheduled_t;
static scheduled_t schedule[SCHEDULE_MAX];
static size_t schedule_head, schedule_tail;

static avr_irq_t *uart_input;
static int uart_xon = 1;
static uint8_t rx_pending[LINE_MAX * 4];
static size_t rx_pending_len;
static char rx_text[LINE_MAX];
static size_t rx_text_len;
static avr_io_read_t udr_read;  // simavr's own UDR0 read handler, which ours wraps
static void *udr_param;

static struct {
  uint8_t byte;
  uint64_t done;  // cycle the byte has left the wire
} tx_queue[TX_QUEUE];
static size_t tx_head, tx_tail;
static uint64_t tx_wire_free;  // cycle the UART's shift register is free again
static char tx_text[LINE_MAX];
static size_t tx_text_len;
static unsigned long tx_dropped;

static char stdin_buf[LINE_MAX * 16];
static size_t stdin_len;
static int quitting;

static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap) {
  (void)a;
  if (level <= LOG_WARNING) vfprintf(stderr, fmt, ap);
}

/** Cycles one byte takes on the wire (start, 8 data, stop) at the baud rate the firmware set. */
static uint64_t cycles_per_byte(void) {
  uint32_t ubrr = avr->data[0xC4] | ((uint32_t)(avr->data[0xC5] & 0x0F) << 8);  // UBRR0L, UBRR0H
  uint32_t per_bit = (ubrr + 1) * ((avr->data[0xC0] & 0x02) ? 8 : 16);       // UCSR0A.U2X0
  return (uint64_t)per_bit * 10;
}

static void apply_due(void) {
  while (schedule_tail != schedule_head && schedule[schedule_tail].cycle <= avr->cycle) {
    analog_mv[schedule[schedule_tail].channel] = schedule[schedule_tail].mv;
    schedule_tail = (schedule_tail + 1) % SCHEDULE_MAX;
  }
}

// A conversion starts: sample and hold the channel's input at this cycle.
static void on_adc_trigger(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  union {
    avr_adc_mux_t mux;
    uint32_t v;
  } e;
  memset(&e, 0, sizeof e);
  e.v = value;
  if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src > 7) return;
  apply_due();
  uint32_t mv = analog_mv[e.mux.src];
  avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + e.mux.src), mv);
  if (log_adc) out("ADC %llu %u %u", (unsigned long long)avr->cycle, (unsigned)e.mux.src, (unsigned)mv);
}

static void on_port(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  static int last[3] = {-1, -1, -1};
  char name = (char)(intptr_t)param;
  int i = name - 'B';
  if (last[i] == (int)(value & 0xFF)) return;
  last[i] = (int)(value & 0xFF);
  out("PORT %c %llu %02x", name, (unsigned long long)avr->cycle, (unsigned)(value & 0xFF));
}

// The firmware wrote UDR0: the byte leaves the wire one byte time after the shift register is free.
static void on_uart_output(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  uint64_t start = avr->cycle > tx_wire_free ? avr->cycle : tx_wire_free;
  tx_wire_free = start + cycles_per_byte();
  size_t next = (tx_head + 1) % TX_QUEUE;
  if (next == tx_tail) {
    tx_dropped++;
    return;
  }
  tx_queue[tx_head].byte = (uint8_t)value;
  tx_queue[tx_head].done = tx_wire_free;
  tx_head = next;
}

static void on_xon(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_xon = 1;
}

static void on_xoff(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  if (value) uart_xon = 0;
}

static void flush_tx(void) {
  if (!host_open) {  // nobody listens: the bytes are lost, as on a board whose port is closed
    tx_tail = tx_head;
    return;
  }
  uint8_t buf[TX_QUEUE];
  size_t n = 0;
  while (tx_tail != tx_head && tx_queue[tx_tail].done <= avr->cycle) {
    uint8_t b = tx_queue[tx_tail].byte;
    uint64_t done = tx_queue[tx_tail].done;
    tx_tail = (tx_tail + 1) % TX_QUEUE;
    buf[n++] = b;
    if (b == '\n') {
      tx_text[tx_text_len] = '\0';
      out("TX %llu %s", (unsigned long long)done, tx_text);
      tx_text_len = 0;
    } else if (tx_text_len < LINE_MAX - 1 && b != '\r') {
      tx_text[tx_text_len++] = (char)b;
    }
  }
  if (n == 0) return;
  ssize_t w = write(pty_master, buf, n);
  if (w < (ssize_t)n) tx_dropped += n - (w < 0 ? 0 : (size_t)w);  // nobody reads the pty and its buffer is full
}

#define UDR0_ADDR 0xC6

// The firmware reads a received byte: assemble the host's line, logged when its newline is read.
static uint8_t on_udr_read(avr_t *a, avr_io_addr_t addr, void *param) {
  (void)param;
  uint8_t b = udr_read(a, addr, udr_param);
  if (b == '\n') {
    rx_text[rx_text_len] = '\0';
    out("RX %llu %s", (unsigned long long)a->cycle, rx_text);
    rx_text_len = 0;
  } else if (rx_text_len < LINE_MAX - 1 && b != '\r') {
    rx_text[rx_text_len++] = (char)b;
  }
  return b;
}

static void feed_rx(void) {
  ssize_t r = read(pty_master, rx_pending + rx_pending_len, sizeof rx_pending - rx_pending_len);
  if (r < 0 && errno == EIO) {  // no host has the slave open
    if (host_open) out("HANGUP %llu", (unsigned long long)avr->cycle);
    host_open = 0;
    rx_pending_len = 0;
    return;
  }
  if (!host_open) {
    host_open = 1;
    reset_pending = 1;
    rx_pending_len = 0;  // bytes written before the reset reach a board that is not listening yet
    return;
  }
  if (r > 0) rx_pending_len += (size_t)r;
  size_t used = 0;
  while (used < rx_pending_len && uart_xon) avr_raise_irq(uart_input, rx_pending[used++]);
  memmove(rx_pending, rx_pending + used, rx_pending_len - used);
  rx_pending_len -= used;
}

static int parse_channel(const char *s, unsigned *ch) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || v > 7) return 0;
  *ch = (unsigned)v;
  return 1;
}

static void command(char *line) {
  char *w[6];
  int n = 0;
  for (char *t = strtok(line, " \t\r"); t && n < 6; t = strtok(NULL, " \t\r")) w[n++] = t;
  if (n == 0) return;
  unsigned ch;
  if (!strcmp(w[0], "adc") && n == 3 && parse_channel(w[1], &ch)) {
    analog_mv[ch] = (uint32_t)strtoul(w[2], NULL, 10);
  } else if (!strcmp(w[0], "at") && n == 5 && !strcmp(w[2], "adc") && parse_channel(w[3], &ch)) {
    uint64_t wanted = strtoull(w[1], NULL, 10);
    uint32_t mv = (uint32_t)strtoul(w[4], NULL, 10);
    // When the driver falls behind the simulation, late inputs are shifted together rather than squeezed into
    // one instant: a photodiode pulse sent late still lasts as long. The shift ends once an input arrives in time
    // with nothing left in the queue.
    static uint64_t shift;
    uint64_t cycle = wanted + shift;
    if (cycle < avr->cycle) {
      shift += avr->cycle - cycle;
      cycle = avr->cycle;
      out("LATE %llu %llu", (unsigned long long)avr->cycle, (unsigned long long)wanted);
    } else if (schedule_tail == schedule_head && wanted >= avr->cycle) {
      shift = 0;
      cycle = wanted;
    }
    size_t next = (schedule_head + 1) % SCHEDULE_MAX;
    if (next == schedule_tail) {
      fprintf(stderr, "rigbox-sim: schedule full, dropped: at %llu adc %u %u\n", (unsigned long long)cycle, ch,
              mv);
      return;
    }
    schedule[schedule_head] = (scheduled_t){cycle, (uint8_t)ch, mv};
    schedule_head = next;
  } else if (!strcmp(w[0], "now") && n == 1) {
    out("NOW %llu", (unsigned long long)avr->cycle);
  } else if (!strcmp(w[0], "quit")) {
    quitting = 1;
  } else {
    fprintf(stderr, "rigbox-sim: bad command \"%s\": expected adc <ch> <mV>, at <cycle> adc <ch> <mV>, now or quit\n",
            w[0]);
  }
}

static void read_stdin(void) {
  ssize_t r = read(STDIN_FILENO, stdin_buf + stdin_len, sizeof stdin_buf - 1 - stdin_len);
  if (r == 0) quitting = 1;
  if (r <= 0) return;
  stdin_len += (size_t)r;
  char *start = stdin_buf;
  for (char *nl; (nl = memchr(start, '\n', stdin_len - (size_t)(start - stdin_buf))) != NULL; start = nl + 1) {
    *nl = '\0';
    command(start);
  }
  stdin_len -= (size_t)(start - stdin_buf);
  memmove(stdin_buf, start, stdin_len);
  if (stdin_len == sizeof stdin_buf - 1) stdin_len = 0;  // an endless line: drop it
}

static uint64_t wall_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t wall_start;

// Real-time pacing: called while the simulated CPU sleeps (as simavr's avr_callback_sleep_raw), but it sleeps
// only once the simulation is a millisecond ahead of the wall clock, which saves most of the system calls.
static void pace(avr_t *a, avr_cycle_count_t how_long) {
  uint64_t sim = (a->cycle + how_long) * 1000u / (FREQUENCY / 1000000u);
  uint64_t wall = wall_ns() - wall_start;
  if (sim > wall + AHEAD_NS) {
    struct timespec d = {(time_t)((sim - wall) / 1000000000u), (long)((sim - wall) % 1000000000u)};
    nanosleep(&d, NULL);
  }
}

static avr_cycle_count_t poll(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a;
  (void)param;
  read_stdin();
  feed_rx();
  flush_tx();
  apply_due();
  return when + POLL_CYCLES;
}

static void cleanup(void) {
  if (link_path[0]) unlink(link_path);
}

static void on_signal(int sig) {
  (void)sig;
  cleanup();
  _exit(0);
}

static int open_pty(void) {
  char name[256];
  int pty_slave;
  if (openpty(&pty_master, &pty_slave, name, NULL, NULL) < 0) {
    fprintf(stderr, "rigbox-sim: cannot create a pseudo-terminal: %s\n", strerror(errno));
    return 0;
  }
  // Raw on both ends: the slave's line discipline must not echo our output back or cook the host's lines.
  // The slave is closed again: while no host has it open, reads on the master fail with EIO, which is how the
  // harness tells that a host opened the port.
  struct termios tio;
  for (int i = 0; i < 2; i++) {
    int fd = i ? pty_slave : pty_master;
    tcgetattr(fd, &tio);
    cfmakeraw(&tio);
    tcsetattr(fd, TCSANOW, &tio);
  }
  close(pty_slave);
  fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
  if (link_path[0]) {
    unlink(link_path);
    if (symlink(name, link_path) < 0) {
      fprintf(stderr, "rigbox-sim: cannot link %s to %s: %s\n", link_path, name, strerror(errno));
      return 0;
    }
  }
  out("READY %s %u", name, FREQUENCY);
  return 1;
}

int main(int argc, char **argv) {
  const char *elf = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--link") && i + 1 < argc) snprintf(link_path, sizeof link_path, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--log-adc")) log_adc = 1;
    else if (argv[i][0] != '-' && !elf) elf = argv[i];
    else {
      fprintf(stderr, "usage: rigbox-sim [--link PATH] [--log-adc] FIRMWARE.elf\n");
      return 2;
    }
  }
  if (!elf) {
    fprintf(stderr, "usage: rigbox-sim [--link PATH] [--log-adc] FIRMWARE.elf\n");
    return 2;
  }
  avr_global_logger_set(quiet_logger);
  elf_firmware_t f;
  memset(&f, 0, sizeof f);
  if (elf_read_firmware(elf, &f) != 0) {
    fprintf(stderr, "rigbox-sim: cannot read firmware %s\n", elf);
    return 1;
  }
  avr = avr_make_mcu_by_name(MCU);
  if (!avr || avr_init(avr) != 0) {
    fprintf(stderr, "rigbox-sim: simavr has no %s\n", MCU);
    return 1;
  }
  avr_load_firmware(avr, &f);
  avr->frequency = FREQUENCY;
  avr->vcc = avr->avcc = avr->aref = 5000;
  avr->log = LOG_WARNING;

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  if (!open_pty()) return 1;

  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER), on_adc_trigger, NULL);
  for (char p = 'B'; p <= 'D'; p++)
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(p), IOPORT_IRQ_REG_PORT), on_port,
                            (void *)(intptr_t)p);
  uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  udr_read = avr->io[AVR_DATA_TO_IO(UDR0_ADDR)].r.c;
  udr_param = avr->io[AVR_DATA_TO_IO(UDR0_ADDR)].r.param;
  avr->io[AVR_DATA_TO_IO(UDR0_ADDR)].r.c = on_udr_read;
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_output, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_cycle_timer_register(avr, POLL_CYCLES, poll, NULL);
  avr->sleep = pace;
  wall_start = wall_ns();

  int state = cpu_Running;
  while (!quitting && state != cpu_Done && state != cpu_Crashed) {
    state = avr_run(avr);
    if (reset_pending) {
      // Not from inside a cycle timer: avr_reset rebuilds the timer pool the timer is being run from.
      reset_pending = 0;
      avr_reset(avr);
      avr_cycle_timer_register(avr, POLL_CYCLES, poll, NULL);
      tx_tail = tx_head;
      tx_wire_free = avr->cycle;
      tx_text_len = rx_text_len = 0;
      state = cpu_Running;
      out("RESET %llu", (unsigned long long)avr->cycle);
    }
  }
  if (state == cpu_Done || state == cpu_Crashed)
    out("EXIT %s %llu", state == cpu_Crashed ? "crashed" : "done", (unsigned long long)avr->cycle);
  if (tx_dropped) fprintf(stderr, "rigbox-sim: %lu bytes to the host were dropped (pty not read)\n", tx_dropped);
  cleanup();
  return state == cpu_Crashed ? 1 : 0;
}
