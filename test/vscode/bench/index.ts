// Mocha entry point of the bench-burst pass (see ../runTests.ts): the main suite's runner, bundled
// here, so it runs the *.test.js files next to this one. Not part of `npm test`: `npm run bench:editor`.
export { run } from '../suite/index';
