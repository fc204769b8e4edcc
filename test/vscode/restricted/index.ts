// Mocha entry point of the restricted pass (see ../runTests.ts): the main suite's runner, bundled here,
// so it runs the *.test.js files next to this one.
export { run } from '../suite/index';
