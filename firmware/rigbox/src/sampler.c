#include "sampler.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#include "board.h"

#define QUEUE 8  // power of two

static const uint8_t channels[3] = {ADC_EYE_X, ADC_EYE_Y, ADC_PHOTODIODE};
static volatile uint8_t step;  // 0: idle; 1..3: converting channels[step - 1]
static sample_t current;
static sample_t queue[QUEUE];
static volatile uint8_t head, tail;  // head: next to write (ISR), tail: next to read (main)
static volatile uint16_t lost;

void sampler_init(void) {
  DIDR0 = ADC_DIGITAL_DISABLE;
  ADMUX = _BV(REFS0) | channels[0];                                   // AVCC reference
  ADCSRA = _BV(ADEN) | _BV(ADIE) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0);  // clk/128: 125 kHz
}

void sampler_start(uint32_t ms) {
  if (step != 0) {
    lost++;
    return;
  }
  current.ms = ms;
  step = 1;
  ADMUX = _BV(REFS0) | channels[0];
  ADCSRA |= _BV(ADSC);
}

ISR(ADC_vect) {
  uint16_t v = ADC;
  if (step == 1) current.x = v;
  else if (step == 2) current.y = v;
  else current.pd = v;
  if (step < 3) {
    ADMUX = _BV(REFS0) | channels[step];
    step++;
    ADCSRA |= _BV(ADSC);
    return;
  }
  step = 0;
  uint8_t next = (head + 1) & (QUEUE - 1);
  if (next == tail) {
    lost++;
    return;
  }
  queue[head] = current;
  head = next;
}

uint8_t sampler_pop(sample_t *out) {
  uint8_t got = 0;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
    if (tail != head) {
      *out = queue[tail];
      tail = (tail + 1) & (QUEUE - 1);
      got = 1;
    }
  }
  return got;
}

uint8_t sampler_waiting(void) { return tail != head; }

uint16_t sampler_lost(void) {
  uint16_t n;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { n = lost; }
  return n;
}

uint16_t sampler_mv(uint16_t counts) {
  return (uint16_t)(((uint32_t)counts * ADC_VREF_MV + 511u) / 1023u);
}
