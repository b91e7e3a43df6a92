import { gsm7Length, renderAlertSms, toGsm7Segment } from '../../../src/services/alerts/sms.channel';
import type { AlertDoc } from '../../../src/models/alert.model';

describe('SMS text: one GSM-7 segment', () => {
  it('keeps GSM-7 text as is and counts extension characters as two septets', () => {
    expect(toGsm7Segment('Disk 95% full @ db-1 (£0 cost)')).toBe('Disk 95% full @ db-1 (£0 cost)');
    expect(gsm7Length('a{b}')).toBe(6);
    expect(gsm7Length('ok ✓')).toBe(Infinity);
  });

  it('replaces typographic characters, drops accents GSM-7 lacks, and turns the rest into ?', () => {
    expect(toGsm7Segment('“Quoted” – it’s… ok')).toBe('"Quoted" - it\'s... ok');
    expect(toGsm7Segment('Łódź façade señor')).toBe('Lodz facade señor');
    expect(toGsm7Segment('Server 🔥 down ✓')).toBe('Server ? down ?');
  });

  it('cuts to 160 septets with a visible ellipsis', () => {
    const text = toGsm7Segment('x'.repeat(100) + ' ' + '{'.repeat(100));
    expect(gsm7Length(text)).toBeLessThanOrEqual(160);
    expect(text.endsWith('...')).toBe(true);
    expect(toGsm7Segment('y'.repeat(160))).toBe('y'.repeat(160));
  });

  it('renders an alert SMS that always fits one segment', () => {
    const alert = {
      _id: 'a1',
      severity: 'critical',
      title: 'Datenbank überlastet – “primär” 🔥',
      message: 'Ü'.repeat(500),
      occurrences: 3,
      resolveComment: null,
    } as unknown as AlertDoc;
    for (const purpose of ['raised', 'reminder', 'resolved', 'test'] as const) {
      const body = renderAlertSms({
        alert,
        purpose,
        recipient: '+15550001111',
        link: 'https://erp.example.com/console/alerts/a1',
      });
      expect(gsm7Length(body)).toBeLessThanOrEqual(160);
    }
    const raised = renderAlertSms({ alert, purpose: 'raised', recipient: '+1', link: 'https://x/a1' });
    expect(raised.startsWith('ERP CRITICAL: Datenbank überlastet - "primär" ?\nhttps://x/a1\n')).toBe(true);
  });
});
