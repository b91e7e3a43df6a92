import { describeConsoleAcceptance } from '../support/console-acceptance';

// The console's acceptance run (issue 16) in Debian's Chromium; console.firefox.e2e.test.ts runs it in Firefox.
describeConsoleAcceptance(__filename, 'chromium');
