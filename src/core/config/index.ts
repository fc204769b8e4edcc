export * from './model';
export * from './parse';
export * from './variables';
export * from './file';
