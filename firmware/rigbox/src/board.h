// Pin map of the rig box on an Arduino Uno (ATmega328P, 16 MHz, 5 V). The wiring is drawn in docs/rig-box.md;
// everything that names a pin lives here, so a port to another AVR board changes this file only.
#ifndef RIGBOX_BOARD_H
#define RIGBOX_BOARD_H

#include <avr/io.h>
#include <stdint.h>

#if !defined(__AVR_ATmega328P__)
#error "board.h describes the Arduino Uno (ATmega328P); add the pin map of your board here"
#endif

#define BOARD_NAME "uno"

// Analog inputs, 0..5 V (AVCC reference): eye X on A0, eye Y on A1, photodiode on A2.
#define ADC_VREF_MV 5000u
#define ADC_EYE_X 0
#define ADC_EYE_Y 1
#define ADC_PHOTODIODE 2
#define ADC_DIGITAL_DISABLE (_BV(ADC0D) | _BV(ADC1D) | _BV(ADC2D))

// Event word: 8 data lines, bit 0..5 on D2..D7 (PD2..PD7), bit 6..7 on D8..D9 (PB0..PB1).
// Strobe on D10 (PB2), reward valve driver on D11 (PB3), fixation LED on D13 (PB5, the Uno's LED).
#define STROBE_BIT PB2
#define VALVE_BIT PB3
#define LED_BIT PB5

static inline void board_outputs_init(void) {
  // INT0/INT1 share D2/D3 with word bits 0 and 1 and are not used. Their reset mode is "low level", which
  // simavr (1.6) polls on every cycle while the pin is low; falling-edge mode keeps the simulation fast and
  // changes nothing on the board (EIMSK stays 0).
  EICRA = _BV(ISC01) | _BV(ISC11);
  DDRD |= 0xFC;
  DDRB |= _BV(PB0) | _BV(PB1) | _BV(STROBE_BIT) | _BV(VALVE_BIT) | _BV(LED_BIT);
  PORTD &= 0x03;
  PORTB &= (uint8_t) ~(_BV(PB0) | _BV(PB1) | _BV(STROBE_BIT) | _BV(VALVE_BIT) | _BV(LED_BIT));
}

// Call with interrupts off: PORTB is shared with the strobe, valve and LED.
static inline void board_word_put(uint8_t byte) {
  PORTD = (uint8_t)((PORTD & 0x03) | (uint8_t)(byte << 2));
  PORTB = (uint8_t)((PORTB & 0xFC) | (byte >> 6));
}

static inline void board_strobe(uint8_t high) {
  if (high) PORTB |= _BV(STROBE_BIT);
  else PORTB &= (uint8_t)~_BV(STROBE_BIT);
}

static inline void board_valve(uint8_t open) {
  if (open) PORTB |= _BV(VALVE_BIT);
  else PORTB &= (uint8_t)~_BV(VALVE_BIT);
}

static inline void board_led(uint8_t on) {
  if (on) PORTB |= _BV(LED_BIT);
  else PORTB &= (uint8_t)~_BV(LED_BIT);
}

#endif
