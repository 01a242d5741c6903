/** The commands of `ec2-restore`. */
export const commandNames = ['plan', 'restore', 'watch', 'list', 'show', 'cancel', 'points'] as const;
export type CommandName = (typeof commandNames)[number];
