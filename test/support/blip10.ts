/** bLIP-10's example record (Podcasting 2.0's value-for-value metadata), as its fields. */
export const BLIP10_SAMPLE = {
  app_name: 'Castamatic',
  app_version: '8.0.6',
  value_msat_total: 49960,
  url: 'https://feeds.buzzsprout.com/1844352.rss',
  podcast: 'Mere Mortals',
  action: 'stream',
  episode: "The Art Of NFT's & Aimless Wandering",
  episode_guid: 'Buzzsprout-9931017',
  value_msat: 97940,
  ts: 574,
  name: 'Podcaster',
  sender_name: 'Peter',
};
