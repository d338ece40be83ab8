// How many prompts one list request asks for, in the list and the template picker.
export const PAGE = 100;
