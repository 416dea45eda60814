#include "event_word.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>
#include <util/delay.h>

#include "board.h"
#include "clock.h"
#include "protocol.h"

#define QUEUE 4  // power of two
#define SETUP_US 2  // data lines settle before the strobe rises

static uint16_t queue[QUEUE];
static uint8_t head, tail;           // main loop only
static volatile uint8_t step;        // 0 idle; 1: high byte strobed; 2: gap; 3: low byte strobed
static volatile uint8_t finished;    // a code is done and not yet taken
static uint16_t active_code;
static uint32_t active_ms;

void event_word_init(void) {
  TCCR2A = _BV(WGM21);  // CTC on OCR2A; stopped until a word goes out
  TCCR2B = 0;
  TIMSK2 = 0;
}

uint8_t event_word_queue(uint16_t code) {
  uint8_t next = (head + 1) & (QUEUE - 1);
  if (next == tail) return 0;
  queue[head] = code;
  head = next;
  return 1;
}

void event_word_service(void) {
  if (step != 0 || finished || head == tail) return;
  uint16_t code = queue[tail];
  tail = (tail + 1) & (QUEUE - 1);
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
    active_code = code;
    active_ms = clock_ms();
    board_word_put((uint8_t)(code >> 8));
    _delay_us(SETUP_US);
    board_strobe(1);
    TCNT2 = 0;
    TIFR2 = _BV(OCF2A);
    TIMSK2 = _BV(OCIE2A);
    TCCR2B = _BV(CS22);                    // clk/64: 4 us per count
    OCR2A = (uint8_t)(STROBE_US / 4 - 1);  // (after the clock select: simavr sets up CTC there)
    step = 1;
  }
}

ISR(TIMER2_COMPA_vect) {
  if (step == 1) {
    board_strobe(0);
    step = 2;
  } else if (step == 2) {
    board_word_put((uint8_t)active_code);
    _delay_us(SETUP_US);
    board_strobe(1);
    step = 3;
  } else {
    board_strobe(0);
    board_word_put(0);
    TCCR2B = 0;
    TIMSK2 = 0;
    step = 0;
    finished = 1;
  }
}

uint8_t event_word_done(uint16_t *code, uint32_t *ms) {
  if (!finished) return 0;
  *code = active_code;
  *ms = active_ms;
  finished = 0;
  return 1;
}

uint8_t event_word_pending(void) { return finished || (step == 0 && head != tail); }
