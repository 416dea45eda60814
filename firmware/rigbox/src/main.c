// The rig box (docs/rig-box.md): samples the eye and the photodiode every millisecond, decides fixation on the
// box, puts event words on the acquisition system's digital inputs, opens the reward valve, and speaks the line
// protocol with the host over the serial link. Everything timed runs from interrupts; the main loop parses,
// decides and formats, and sleeps when there is nothing to do.
#include <avr/interrupt.h>
#include <avr/sleep.h>

#include "board.h"
#include "clock.h"
#include "commands.h"
#include "event_word.h"
#include "eye.h"
#include "photodiode.h"
#include "protocol.h"
#include "sampler.h"
#include "text.h"
#include "uart.h"
#include "valve.h"

#define RX_LINE 128

static char rx_line[RX_LINE];
static uint8_t rx_len;
static uint8_t rx_overlong;
static uint32_t last_fix_line, last_eye_line;
static uint16_t lost_reported, rx_lost_reported;
static sample_t eye_due;
static int32_t eye_due_x, eye_due_y;
static uint8_t eye_pending;
#define out text_out

static void read_lines(void) {
  char c;
  while (uart_read(&c)) {
    if (c == '\n') {
      if (rx_overlong) {
        text_start(&out, PSTR("ERR line longer than 127 characters"));
        text_send(&out, 1);
      } else {
        rx_line[rx_len] = '\0';
        commands_handle(rx_line);
      }
      rx_len = 0;
      rx_overlong = 0;
    } else if (rx_len < RX_LINE - 1) {
      rx_line[rx_len++] = c;
    } else {
      rx_overlong = 1;
    }
  }
}

static void send_fix(uint8_t fixating, uint32_t ms) {
  text_start(&out, PSTR("FIX"));
  text_u32(&out, fixating);
  text_u32(&out, ms);
  text_send(&out, 1);
  last_fix_line = ms;
}

static void on_sample(const sample_t *s) {
  int32_t x, y;
  eye_to_centideg(s->x, s->y, &x, &y);
  int8_t fix = eye_fixation_update(eye_inside(x, y));
  if (fix >= 0) {
    board_led((uint8_t)fix);
    send_fix((uint8_t)fix, s->ms);
  } else if (s->ms - last_fix_line >= HEARTBEAT_MS) {
    send_fix((uint8_t)eye_fixation(), s->ms);
  }
  int8_t pd = photodiode_update(s->pd);
  if (pd >= 0) {
    text_start(&out, PSTR("PD"));
    text_u32(&out, (uint8_t)pd);
    text_u32(&out, s->ms);
    text_send(&out, 1);
  }
  uint16_t every = commands_stream_ms();
  if (every && s->ms - last_eye_line >= every) {
    last_eye_line = s->ms;
    eye_due = *s;  // formatted after the next look at the received lines (it takes ~0.2 ms)
    eye_due_x = x;
    eye_due_y = y;
    eye_pending = 1;
  }
}

// Only on an idle link: an EYE line must not hold back the FIX, PD and ACK lines behind it.
static void send_eye(void) {
  eye_pending = 0;
  if (uart_queued() != 0) return;
  text_start(&out, PSTR("EYE"));
  text_centideg(&out, eye_due_x);
  text_centideg(&out, eye_due_y);
  text_u32(&out, eye_due.ms);
  text_u32(&out, sampler_mv(eye_due.x));
  text_u32(&out, sampler_mv(eye_due.y));
  text_send(&out, 0);
}

// Losses are rare (the main loop fell behind: a host flooding the link with commands whose answers back up the
// transmit ring); the host hears of them as ERR lines, a warning on its side.
static void report_losses(void) {
  uint16_t lost = sampler_lost();
  if (lost != lost_reported) {
    lost_reported = lost;
    text_start(&out, PSTR("ERR samples lost since reset:"));
    text_u32(&out, lost);
    text_send(&out, 1);
  }
  lost = uart_rx_lost();
  if (lost != rx_lost_reported) {
    rx_lost_reported = lost;
    text_start(&out, PSTR("ERR received bytes lost since reset (host lines came faster than their answers left):"));
    text_u32(&out, lost);
    text_send(&out, 1);
  }
}

int main(void) {
  board_outputs_init();
  valve_init();
  uart_init();
  event_word_init();
  sampler_init();
  clock_init();
  set_sleep_mode(SLEEP_MODE_IDLE);
  sei();
  commands_hello();
  for (;;) {
    read_lines();
    event_word_service();
    uint16_t code;
    uint32_t ms;
    if (event_word_done(&code, &ms)) {
      commands_event_sent(code, ms);
      event_word_service();
    }
    sample_t s;
    if (sampler_pop(&s)) {
      on_sample(&s);
      report_losses();
      continue;  // lines first again before the next sample
    }
    if (eye_pending) {
      send_eye();
      continue;
    }
    cli();
    if (!uart_waiting() && !sampler_waiting() && !event_word_pending()) {
      sleep_enable();
      sei();
      sleep_cpu();
      sleep_disable();
    }
    sei();
  }
}
